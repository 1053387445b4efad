using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using Microsoft.Extensions.Time.Testing;
using Platform.Classifier.V1;
using Platform.Fleet.Catalog;
using Platform.Gateway.Pipeline;
using Platform.Gateway.Routing;
using Platform.Gateway.Tests.Fixtures.Engines;

namespace Platform.Gateway.Tests.Routing;

/// <summary>Routing by observed latency: pricing, outlier ejection, probes and readmission, on a fake clock.</summary>
public sealed class LatencyRoutingTests : IDisposable
{
    private static readonly TimeSpan ProbeInterval = TimeSpan.FromSeconds(5);
    private const int ProbeRequests = 20;
    private readonly FakeTimeProvider _time = new(new DateTimeOffset(2026, 1, 1, 0, 0, 0, TimeSpan.Zero));
    private readonly TestMeterFactory _meters = new();
    private readonly FakeFleetState _state = new();
    private readonly FakeHealthView _health = new();
    private readonly InFlightTracker _inFlight = new();
    private readonly List<IDisposable> _leases = [];

    public void Dispose()
    {
        _leases.ForEach(l => l.Dispose());
        _meters.Dispose();
    }

    private static FakeCatalog Catalog(int engines) => new([new ModelInfo("llama", null, 4096, [FakeCatalog.Pool("general", "llama", TaskAffinity.General, engines)])]);

    private static RoutingRequest Request(ulong? prefix = null, string[]? exclude = null) => new("llama", TaskKind.General, prefix, exclude ?? [], false);

    private (EngineRouter Router, EngineLatencyTracker Latency) Router(
        int engines = 3, string policy = PowerOfTwoChoicesPolicy.PolicyName, bool latencyAware = true, bool affinity = false, int seed = 7)
    {
        var options = Options.Create(new RoutingOptions
        {
            Policy = policy,
            PrefixAffinity = affinity,
            Seed = seed,
            LatencyAware = latencyAware,
            LatencyHalfLife = TimeSpan.FromSeconds(5),
            LatencyMinSamples = 10,
            OutlierLatencyFactor = 2.5,
            OutlierProbeInterval = ProbeInterval,
            OutlierProbeRequests = ProbeRequests,
        });
        IEngineSelectionPolicy[] policies = [new PowerOfTwoChoicesPolicy(new RoutingRandom(options)), new LeastLoadedPolicy(), new RoundRobinPolicy()];
        var latency = new EngineLatencyTracker(options, _time, new EngineSideMetrics(_meters), NullLogger<EngineLatencyTracker>.Instance);
        return (new EngineRouter(Catalog(engines), _state, _health, _inFlight, latency, policies, options), latency);
    }

    /// <summary>What the pipeline records for <paramref name="count"/> 11-token streams per engine, engines interleaved, 10 ms apart.</summary>
    private void Observe(EngineLatencyTracker latency, int count, params (string Engine, double TtftMs, double ItlMs)[] engines)
    {
        for (var i = 0; i < count; i++)
        {
            foreach (var (engine, ttftMs, itlMs) in engines)
            {
                _time.Advance(TimeSpan.FromMilliseconds(10));
                var ttft = TimeSpan.FromMilliseconds(ttftMs);
                latency.RecordFirstToken(engine, ttft);
                latency.RecordStream(engine, ttft, ttft + TimeSpan.FromMilliseconds(itlMs * 10), tokens: 11);
            }
        }
    }

    private void Load(string engine, int requests)
    {
        for (var i = 0; i < requests; i++)
        {
            _leases.Add(_inFlight.Track(engine));
        }
    }

    private static List<string> Picks(EngineRouter router, int count, RoutingRequest? request = null) =>
        Enumerable.Range(0, count).Select(_ => router.Route(request ?? Request())!.Engine.Id).ToList();

    [Fact]
    public void Route_EngineFourTimesSlower_EjectedAndProbedOncePerInterval()
    {
        var (router, latency) = Router();
        Observe(latency, 10, ("general-0", 160, 28), ("general-1", 40, 7), ("general-2", 40, 7));

        Assert.DoesNotContain("general-0", Picks(router, 200));
        Assert.True(latency.IsOutlier("general-0"));
        Assert.False(latency.IsOutlier("general-1"));

        _time.Advance(ProbeInterval);
        Assert.Equal("general-0", router.Route(Request())!.Engine.Id);
        Assert.DoesNotContain("general-0", Picks(router, 200));
    }

    [Fact]
    public void Route_OutlierProbes_AtMostOneInProbeRequestsAndOnePerInterval()
    {
        var (router, latency) = Router();
        Observe(latency, 10, ("general-0", 160, 28), ("general-1", 40, 7), ("general-2", 40, 7));

        // Many requests within the interval: no probe.
        Assert.DoesNotContain("general-0", Picks(router, 5 * ProbeRequests));
        _time.Advance(ProbeInterval);
        Assert.Equal("general-0", router.Route(Request())!.Engine.Id);

        // Long past the interval, the probe still waits for its share of requests.
        _time.Advance(ProbeInterval * 10);
        var picks = Picks(router, ProbeRequests);
        Assert.Equal(ProbeRequests - 1, picks.IndexOf("general-0"));
        Assert.Single(picks, p => p == "general-0");
    }

    [Fact]
    public void Route_SlowEngineWithTooFewSamples_IsNotEjected()
    {
        var (router, latency) = Router();
        Observe(latency, 10, ("general-1", 40, 7), ("general-2", 40, 7));
        Observe(latency, 9, ("general-0", 160, 28));

        Assert.Contains("general-0", Picks(router, 200));
        Assert.False(latency.IsOutlier("general-0"));
    }

    [Fact]
    public void Route_EjectedEngineRecovers_ReadmittedThroughItsProbes()
    {
        var (router, latency) = Router();
        Observe(latency, 10, ("general-0", 160, 28), ("general-1", 40, 7), ("general-2", 40, 7));
        Assert.DoesNotContain("general-0", Picks(router, 50));

        // A long quiet spell alone changes nothing (estimates move only with samples) but for the one probe.
        _time.Advance(TimeSpan.FromMinutes(1));
        var afterQuiet = Picks(router, 50);
        Assert.Equal("general-0", afterQuiet[0]);
        Assert.DoesNotContain("general-0", afterQuiet.Skip(1));

        // The engine is fast again: each probe's sample comes after a quiet spell and weighs much.
        var probes = 0;
        while (latency.IsOutlier("general-0") && probes < 10)
        {
            _time.Advance(ProbeInterval);
            var probe = router.Route(Request())!.Engine.Id;
            Assert.Equal("general-0", probe);
            probes++;
            Observe(latency, 1, ("general-0", 40, 7), ("general-1", 40, 7), ("general-2", 40, 7));
            Picks(router, ProbeRequests);
        }

        Assert.InRange(probes, 1, 3);
        Assert.False(latency.IsOutlier("general-0"));

        // Back in the rotation: where it is the cheaper of the two drawn, it serves (about 2/3 of draws include it).
        Load("general-1", 1);
        Load("general-2", 1);
        Assert.InRange(Picks(router, 300).Count(p => p == "general-0"), 150, 250);
    }

    [Fact]
    public void Route_EngineSendsNoFirstTokenPastStallAfter_EjectedThenReadmittedWhenItsWaitEnds()
    {
        var (router, latency) = Router();
        Observe(latency, 10, ("general-0", 40, 7), ("general-1", 40, 7), ("general-2", 40, 7));
        latency.AttemptSent("general-0");

        // Under StallAfter (1 s) a silent engine is priced as before: a burst's prefill can take that long.
        _time.Advance(TimeSpan.FromMilliseconds(900));
        Assert.Contains("general-0", Picks(router, 100));
        Assert.False(latency.IsOutlier("general-0"));

        // Past it, the wait is its time to first token: 1.0 s against the pool's 40 ms, far past 2.5x.
        _time.Advance(TimeSpan.FromMilliseconds(100));
        Assert.Equal(1.0, latency.Estimate("general-0").StallSeconds, 3);
        Assert.DoesNotContain("general-0", Picks(router, 100));
        Assert.True(latency.IsOutlier("general-0"));

        // The attempt gives up (timed out, cancelled): nothing waits there any more, so nothing stalls.
        latency.AttemptEndedWithoutFirstToken("general-0");
        Assert.Equal(0, latency.Estimate("general-0").StallSeconds);
        Assert.Contains("general-0", Picks(router, 100));
        Assert.False(latency.IsOutlier("general-0"));
    }

    [Fact]
    public void Route_HungEngineNeverSampled_EjectedByItsStall()
    {
        // A hung engine sends no first token, so it never has samples: priced at the median, it would keep its share.
        var (router, latency) = Router();
        Observe(latency, 10, ("general-1", 40, 7), ("general-2", 40, 7));
        latency.AttemptSent("general-0");
        latency.AttemptSent("general-0");

        _time.Advance(TimeSpan.FromSeconds(2));

        Assert.DoesNotContain("general-0", Picks(router, 100));
        Assert.True(latency.IsOutlier("general-0"));
    }

    [Fact]
    public void Stall_CountsFromTheLastFirstTokenWhileAttemptsWait()
    {
        var (_, latency) = Router();
        latency.AttemptSent("general-0");
        _time.Advance(TimeSpan.FromSeconds(3));
        latency.AttemptSent("general-0");

        // One of the two gets its first token: the engine makes progress, the other's wait counts from here.
        latency.RecordFirstToken("general-0", TimeSpan.FromSeconds(3));
        Assert.Equal(0, latency.Estimate("general-0").StallSeconds);
        _time.Advance(TimeSpan.FromMilliseconds(1500));
        Assert.Equal(1.5, latency.Estimate("general-0").StallSeconds, 3);

        latency.RecordFirstToken("general-0", TimeSpan.FromMilliseconds(1500));
        _time.Advance(TimeSpan.FromSeconds(10));
        Assert.Equal(0, latency.Estimate("general-0").StallSeconds);

        // A quiet engine (nothing waiting) starts counting at the next request, not at its last first token.
        latency.AttemptSent("general-0");
        Assert.Equal(0, latency.Estimate("general-0").StallSeconds);
        _time.Advance(TimeSpan.FromSeconds(1));
        Assert.Equal(1.0, latency.Estimate("general-0").StallSeconds, 3);
    }

    [Fact]
    public void Route_EveryOtherEngineExcluded_OutlierStillServes()
    {
        var (router, latency) = Router();
        Observe(latency, 10, ("general-0", 160, 28), ("general-1", 40, 7), ("general-2", 40, 7));
        Picks(router, 1);
        Assert.True(latency.IsOutlier("general-0"));

        var decision = router.Route(Request(exclude: ["general-1", "general-2"]));

        Assert.Equal("general-0", decision!.Engine.Id);
    }

    [Fact]
    public void Route_AffineEngineIsAnOutlier_RequestGoesElsewhere()
    {
        var (router, latency) = Router(affinity: true);
        var affine = router.Route(Request(prefix: 42))!.Engine.Id;
        var others = Enumerable.Range(0, 3).Select(i => $"general-{i}").Where(e => e != affine).ToArray();
        Observe(latency, 10, (affine, 160, 28), (others[0], 40, 7), (others[1], 40, 7));

        Assert.DoesNotContain(affine, Picks(router, 50, Request(prefix: 42)));
    }

    [Fact]
    public void Route_EngineWithoutSamples_PricedAtThePoolMedian()
    {
        var (router, latency) = Router(engines: 4, policy: LeastLoadedPolicy.PolicyName);
        Observe(latency, 10, ("general-1", 100, 10), ("general-2", 200, 20), ("general-3", 240, 24));
        Load("general-2", 20);
        Load("general-3", 20);
        Load("general-0", 2);

        // general-0, unknown, is priced like the median (2x the fastest): (2 + 1) x 2 - 1 = 5 requests of the fastest;
        // at the best it would cost 2, at the slowest (2.4x) 6.2.
        Load("general-1", 3);
        Assert.Equal("general-1", router.Route(Request())!.Engine.Id);
        Load("general-1", 3);
        Assert.Equal("general-0", router.Route(Request())!.Engine.Id);
    }

    [Fact]
    public void Route_NoSamplesAnywhere_EveryEngineGetsTraffic()
    {
        var (router, _) = Router();

        var picks = Picks(router, 300);

        Assert.All(new[] { "general-0", "general-1", "general-2" }, e => Assert.InRange(picks.Count(p => p == e), 50, 150));
    }

    [Fact]
    public void Route_PowerOfTwo_FasterEngineWinsAtEqualLoadAndAtSlightlyMore()
    {
        var (router, latency) = Router(engines: 2);
        Observe(latency, 10, ("general-0", 60, 12), ("general-1", 40, 8));
        Load("general-0", 2);
        Load("general-1", 2);

        Assert.All(Picks(router, 50), p => Assert.Equal("general-1", p));
        Assert.False(latency.IsOutlier("general-0"));

        // 1.5x slower: 3 in flight there cost (3 + 1) x 1.5 - 1 = 5, against 4 on the fast engine.
        Load("general-0", 1);
        Load("general-1", 2);
        Assert.All(Picks(router, 50), p => Assert.Equal("general-1", p));

        Load("general-1", 2);
        Assert.All(Picks(router, 50), p => Assert.Equal("general-0", p));
    }

    [Fact]
    public void Route_EnginesAlike_SamePicksAsWithoutLatency()
    {
        var (aware, latency) = Router(seed: 11);
        var (blind, _) = Router(latencyAware: false, seed: 11);
        Observe(latency, 20, ("general-0", 40, 7), ("general-1", 40, 7), ("general-2", 40, 7));
        Load("general-1", 1);

        Assert.Equal(Picks(blind, 200), Picks(aware, 200));
    }

    [Fact]
    public void Route_LeastLoaded_TiesGoToTheFirstEngineEveryTime()
    {
        var (router, latency) = Router(policy: LeastLoadedPolicy.PolicyName);
        Observe(latency, 20, ("general-0", 40, 7), ("general-1", 40, 7), ("general-2", 40, 7));

        Assert.All(Picks(router, 50), p => Assert.Equal("general-0", p));
    }

    [Fact]
    public void Score_Pair_SlowerOfTwoStandsOutAgainstTheLowerMedian()
    {
        LatencyEstimate[] estimates = [new(0.160, 10, 0.028, 10), new(0.040, 10, 0.007, 10)];
        var factors = new double[2];
        var ratios = new double[2];

        LatencyScoring.Score(estimates, 10, new double[2], factors, ratios);

        Assert.Equal(4.0, factors[0], 9);
        Assert.Equal(1.0, factors[1], 9);
        Assert.Equal(4.0, ratios[0], 9);
        Assert.Equal(1.0, ratios[1], 9);
    }

    [Fact]
    public void Score_UnknownEngine_MedianOfEachSignal_AndSlowestSignalDecides()
    {
        // TTFT alike; the second engine's inter-token latency is 3x: the factor takes the worse signal.
        LatencyEstimate[] estimates = [LatencyEstimate.None, new(0.050, 10, 0.010, 10), new(0.050, 10, 0.030, 10), new(0.050, 10, 0.020, 10)];
        var factors = new double[4];
        var ratios = new double[4];

        LatencyScoring.Score(estimates, 10, new double[4], factors, ratios);

        Assert.Equal(2.0, factors[0], 9);
        Assert.Equal(1.0, ratios[0], 9);
        Assert.Equal(1.0, factors[1], 9);
        Assert.Equal(3.0, factors[2], 9);
        Assert.Equal(1.5, ratios[2], 9);
    }

    [Fact]
    public void Score_SubMillisecondLatencies_AreAlike()
    {
        LatencyEstimate[] estimates = [new(0.0001, 10, 0.00001, 10), new(0.0009, 10, 0.0004, 10)];
        var factors = new double[2];
        var ratios = new double[2];

        LatencyScoring.Score(estimates, 10, new double[2], factors, ratios);

        Assert.All(factors, f => Assert.Equal(1.0, f));
        Assert.All(ratios, r => Assert.Equal(1.0, r));
    }
}
