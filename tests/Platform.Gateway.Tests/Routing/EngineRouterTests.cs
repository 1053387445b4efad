using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using Platform.Classifier.V1;
using Platform.Fleet.Catalog;
using Platform.Fleet.State;
using Platform.Gateway.Pipeline;
using Platform.Gateway.Routing;
using Platform.Gateway.Tests.Fixtures.Engines;

namespace Platform.Gateway.Tests.Routing;

public sealed class EngineRouterTests
{
    private readonly FakeFleetState _state = new();
    private readonly FakeHealthView _health = new();
    private readonly InFlightTracker _inFlight = new();

    private static FakeCatalog Catalog(bool speculativeCode = false) => new(
    [
        new ModelInfo("llama", "phi", 4096,
        [
            FakeCatalog.Pool("code", "llama", TaskAffinity.Code, 2, speculative: speculativeCode),
            FakeCatalog.Pool("general", "llama", TaskAffinity.General, 2),
        ]),
        new ModelInfo("phi", null, 4096, [FakeCatalog.Pool("fallback", "phi", TaskAffinity.None, 1)]),
    ]);

    private EngineRouter Router(FakeCatalog catalog, string policy = PowerOfTwoChoicesPolicy.PolicyName, bool affinity = false)
    {
        var options = Options.Create(new RoutingOptions { Policy = policy, PrefixAffinity = affinity, Seed = 7 });
        IEngineSelectionPolicy[] policies = [new PowerOfTwoChoicesPolicy(new RoutingRandom(options)), new LeastLoadedPolicy(), new RoundRobinPolicy()];
        var latency = new EngineLatencyTracker(options, TimeProvider.System, new EngineSideMetrics(new TestMeterFactory()), NullLogger<EngineLatencyTracker>.Instance);
        return new EngineRouter(catalog, _state, _health, _inFlight, latency, policies, options);
    }

    private static RoutingRequest Request(TaskKind kind = TaskKind.General, ulong? prefix = null, string[]? exclude = null, bool noSpec = false) =>
        new("llama", kind, prefix, exclude ?? [], noSpec);

    [Fact]
    public void Route_CodeKind_PicksCodePoolWithAffinityReason()
    {
        var decision = Router(Catalog()).Route(Request(TaskKind.Code));

        Assert.NotNull(decision);
        Assert.Equal("code", decision.Pool);
        Assert.Equal("affinity", decision.Reason);
        Assert.False(decision.Fallback);
    }

    [Fact]
    public void Route_AffinityPoolBreakersOpen_UsesOtherPoolOfModel()
    {
        _state.SetBreaker("code-0", BreakerState.Open);
        _state.SetBreaker("code-1", BreakerState.Open);

        var decision = Router(Catalog()).Route(Request(TaskKind.Code));

        Assert.Equal("general", decision!.Pool);
        Assert.Equal("affinity_pool_unavailable", decision.Reason);
    }

    [Fact]
    public void Route_AllPrimaryBreakersOpen_FallsBackWithReason()
    {
        foreach (var id in new[] { "code-0", "code-1", "general-0", "general-1" })
        {
            _state.SetBreaker(id, BreakerState.Open);
        }

        var decision = Router(Catalog()).Route(Request());

        Assert.NotNull(decision);
        Assert.True(decision.Fallback);
        Assert.Equal("fallback", decision.Pool);
        Assert.Equal("phi", decision.ServedModel);
        Assert.Equal("breaker_open", decision.Reason);
    }

    [Fact]
    public void Route_HalfOpenBreaker_GetsNoClientTraffic()
    {
        _state.SetBreaker("general-0", BreakerState.HalfOpen);
        var router = Router(Catalog());

        for (var i = 0; i < 20; i++)
        {
            Assert.Equal("general-1", router.Route(Request())!.Engine.Id);
        }
    }

    [Fact]
    public void Route_AllPrimaryUnderPressure_FallsBack()
    {
        foreach (var id in new[] { "code-0", "code-1", "general-0", "general-1" })
        {
            _health.Set(id, pressure: PressureState.UnderPressure);
        }

        var decision = Router(Catalog()).Route(Request());

        Assert.True(decision!.Fallback);
        Assert.Equal("pressure", decision.Reason);
    }

    [Fact]
    public async Task Route_AllPrimaryDraining_FallsBack()
    {
        foreach (var id in new[] { "code-0", "code-1", "general-0", "general-1" })
        {
            await _state.SetDrainingAsync(id, true, "test", TestContext.Current.CancellationToken);
        }

        var decision = Router(Catalog()).Route(Request());

        Assert.True(decision!.Fallback);
        Assert.Equal("draining", decision.Reason);
    }

    [Fact]
    public void Route_UnreachableEngine_IsSkipped()
    {
        _health.Set("general-0", reachable: false);
        var router = Router(Catalog());

        for (var i = 0; i < 20; i++)
        {
            Assert.Equal("general-1", router.Route(Request())!.Engine.Id);
        }
    }

    [Fact]
    public void Route_RequiresNoSpeculation_SkipsSpeculativePool()
    {
        var decision = Router(Catalog(speculativeCode: true)).Route(Request(TaskKind.Code, noSpec: true));

        Assert.Equal("general", decision!.Pool);
        Assert.Equal("no_affinity_pool", decision.Reason);
    }

    [Fact]
    public void Route_ExcludedEngines_AreNeverPicked()
    {
        var router = Router(Catalog());

        for (var i = 0; i < 20; i++)
        {
            Assert.Equal("general-1", router.Route(Request(exclude: ["general-0"]))!.Engine.Id);
        }
    }

    [Fact]
    public void Route_NothingAvailableAndNoFallback_ReturnsNull()
    {
        _state.SetBreaker("fallback-0", BreakerState.Open);
        foreach (var id in new[] { "code-0", "code-1", "general-0", "general-1" })
        {
            _state.SetBreaker(id, BreakerState.Open);
        }

        Assert.Null(Router(Catalog()).Route(Request()));
        Assert.Null(Router(Catalog()).Route(new RoutingRequest("unknown", TaskKind.General, null, [], false)));
    }

    [Fact]
    public void Route_SamePrefix_SticksToOneEngine()
    {
        var router = Router(Catalog(), affinity: true);

        var first = router.Route(Request(prefix: 12345))!.Engine.Id;
        for (var i = 0; i < 50; i++)
        {
            Assert.Equal(first, router.Route(Request(prefix: 12345))!.Engine.Id);
        }
    }

    [Fact]
    public void Route_DifferentPrefixes_SpreadOverEngines()
    {
        var router = Router(Catalog(), affinity: true);

        var engines = Enumerable.Range(0, 200).Select(i => router.Route(Request(prefix: (ulong)i * 7919))!.Engine.Id).ToList();

        Assert.InRange(engines.Count(e => e == "general-0"), 60, 140);
        Assert.InRange(engines.Count(e => e == "general-1"), 60, 140);
    }

    [Fact]
    public void Route_AffineEngineOverLoadBound_UsesPolicyInstead()
    {
        var router = Router(Catalog(), policy: LeastLoadedPolicy.PolicyName, affinity: true);
        var affine = router.Route(Request(prefix: 42))!.Engine.Id;
        var leases = Enumerable.Range(0, 10).Select(_ => _inFlight.Track(affine)).ToList();

        var decision = router.Route(Request(prefix: 42));

        Assert.NotEqual(affine, decision!.Engine.Id);
        leases.ForEach(l => l.Dispose());
        Assert.Equal(affine, router.Route(Request(prefix: 42))!.Engine.Id);
    }
}
