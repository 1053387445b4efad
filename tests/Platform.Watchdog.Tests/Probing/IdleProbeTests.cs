using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using Microsoft.Extensions.Time.Testing;
using Platform.Watchdog.Actions;
using Platform.Watchdog.Detection;
using Platform.Watchdog.Events;
using Platform.Watchdog.Probing;
using Platform.Watchdog.Tests.Fixtures;
using Platform.Watchdog.V1;

namespace Platform.Watchdog.Tests.Probing;

/// <summary>The idle probe on fakes and a fake clock: one snapshot per second, engines idle unless shaped.</summary>
public sealed class IdleProbeTests : IDisposable
{
    private static readonly IdleProbeOptions Idle = new()
    {
        IdleFor = TimeSpan.FromSeconds(10), Interval = TimeSpan.FromSeconds(30), RetryInterval = TimeSpan.FromSeconds(5),
        ProbeTimeout = TimeSpan.FromSeconds(1), FailedProbes = 2, MaxConcurrentProbes = 2,
    };

    private readonly FakeTimeProvider _time = new(new DateTimeOffset(2026, 1, 1, 12, 0, 0, TimeSpan.Zero));
    private readonly FakeCatalog _catalog = new(("general", 2), ("code", 1));
    private readonly FakeFleetState _fleet = new();
    private readonly FakeProbe _probe = new();
    private readonly FakeRestarter _restarter = new();
    private readonly EventLog _events;
    private readonly EngineCoordinator _coordinator;

    public IdleProbeTests()
    {
        _events = new EventLog(_time);
        _coordinator = new EngineCoordinator(
            _catalog, _fleet, _probe, _restarter, _events, new FakeLeadership(),
            [new DeadDetector(Options.Create(new DeadDetectorOptions())), new HungDetector(Options.Create(new HungDetectorOptions()))],
            Options.Create(new WatchdogOptions { DrainMinimum = TimeSpan.Zero }), Options.Create(new BudgetOptions()), Options.Create(new HungDetectorOptions()),
            _time, NullLogger<EngineCoordinator>.Instance, idleProbe: Options.Create(Idle));
    }

    public void Dispose() => _coordinator.Dispose();

    private static EngineObservation Quiet(EngineObservation o) => o with { Running = 0, Waiting = 0, GenerationTokensPerSecond = 0, TtftP95Seconds = double.NaN };

    private async Task FeedAsync(int seconds, Func<EngineObservation, EngineObservation> shape)
    {
        for (var i = 0; i < seconds; i++)
        {
            var now = _time.GetUtcNow();
            _coordinator.OnSnapshot(_catalog.Engines.Select(e => shape(Observations.Healthy(e.Id, now, e.Pool))).ToList());
            await _coordinator.Idle.WaitAsync(TimeSpan.FromSeconds(10), TestContext.Current.CancellationToken);
            _time.Advance(TimeSpan.FromSeconds(1));
        }
    }

    private int ProbesOf(string engineId) => _probe.Generations.Count(id => id == engineId);

    [Fact]
    public async Task IdleEngineThatHangs_FailsTwoIdleProbes_IsDrainedRestartedAndUndrained()
    {
        _probe.Generation = id => id == "general-1" && _restarter.Restarts.IsEmpty
            ? new GenerationProbe(false, TimeSpan.FromSeconds(1), "no answer within 1 s")
            : new GenerationProbe(true, TimeSpan.FromMilliseconds(3), "ok");

        // Idle for 10 s: the first probe; it fails, and the second comes 5 s later (not 30).
        await FeedAsync(11, o => o.EngineId == "general-1" ? Quiet(o) : o);
        Assert.Equal(1, ProbesOf("general-1"));
        Assert.Empty(_restarter.Restarts);
        await FeedAsync(5, o => o.EngineId == "general-1" ? Quiet(o) : o);

        Assert.Equal(["general-1"], _restarter.Restarts);
        var events = _events.Recent(1000, "general-1");
        Assert.Equal(
            [EventKind.Detected, EventKind.DrainStarted, EventKind.DrainCompleted, EventKind.RestartRequested, EventKind.Recovered, EventKind.Undrained],
            events.Select(e => e.Kind));
        Assert.Equal(EngineCoordinator.IdleProbeSource, events[0].Source);
        Assert.Contains("2 idle deep probes (1-token generation) in a row failed, the last: no answer within 1 s", events[0].Reason, StringComparison.Ordinal);
        Assert.Equal(0, ProbesOf("general-0"));
    }

    [Fact]
    public async Task IdleHealthyEngines_AreProbedAtMostOncePerInterval_AndNeverActedOn()
    {
        await FeedAsync(100, Quiet);

        // First probes at +10 s, then every 30 s: +10, +40, +70 (+100 not reached).
        Assert.Equal(3, ProbesOf("general-0"));
        Assert.Equal(3, ProbesOf("code-0"));
        Assert.Empty(_restarter.Restarts);
        Assert.Empty(_events.Recent(1000));
    }

    [Fact]
    public async Task EnginesWithTraffic_OrStalled_AreNotIdleProbed()
    {
        await FeedAsync(60, o => o.EngineId == "general-1" ? o with { Stalled = true, Running = 2, GenerationTokensPerSecond = 0 } : o);

        Assert.Equal(0, ProbesOf("general-0"));
        Assert.Equal(0, ProbesOf("code-0"));
        Assert.DoesNotContain(_events.Recent(1000), e => e.Source == EngineCoordinator.IdleProbeSource);
    }

    [Fact]
    public async Task LastEngineOfAPool_IdleAndHung_IsRestarted_SinceItServesNothing()
    {
        _probe.Generation = id => id == "code-0" && _restarter.Restarts.IsEmpty
            ? new GenerationProbe(false, TimeSpan.FromSeconds(1), "no answer within 1 s")
            : new GenerationProbe(true, TimeSpan.FromMilliseconds(3), "ok");

        await FeedAsync(20, o => o.EngineId == "code-0" ? Quiet(o) : o);

        Assert.Equal(["code-0"], _restarter.Restarts);
        Assert.DoesNotContain(_events.Recent(1000, "code-0"), e => e.Kind == EventKind.Deferred);
    }

    [Fact]
    public async Task IdleProbes_RunAtMostMaxConcurrentAtOnce()
    {
        var gate = new TaskCompletionSource<GenerationProbe>(TaskCreationOptions.RunContinuationsAsynchronously);
        var probe = new BlockingProbe(gate.Task);
        using var coordinator = new EngineCoordinator(
            _catalog, _fleet, probe, _restarter, _events, new FakeLeadership(), [],
            Options.Create(new WatchdogOptions()), Options.Create(new BudgetOptions()), Options.Create(new HungDetectorOptions()),
            _time, NullLogger<EngineCoordinator>.Instance, idleProbe: Options.Create(Idle));

        for (var i = 0; i < 12; i++)
        {
            var now = _time.GetUtcNow();
            coordinator.OnSnapshot(_catalog.Engines.Select(e => Quiet(Observations.Healthy(e.Id, now, e.Pool))).ToList());
            _time.Advance(TimeSpan.FromSeconds(1));
        }

        // Decided under the coordinator's lock at each snapshot: two started, the third waits its turn.
        Assert.Equal(2, coordinator.IdleProbesRunning);
        await Poll.UntilAsync(() => probe.Started == 2, TimeSpan.FromSeconds(10), "two idle probes to start");
        gate.SetResult(new GenerationProbe(true, TimeSpan.FromMilliseconds(3), "ok"));
        await coordinator.Idle.WaitAsync(TimeSpan.FromSeconds(10), TestContext.Current.CancellationToken);
        coordinator.OnSnapshot(_catalog.Engines.Select(e => Quiet(Observations.Healthy(e.Id, _time.GetUtcNow(), e.Pool))).ToList());
        await coordinator.Idle.WaitAsync(TimeSpan.FromSeconds(10), TestContext.Current.CancellationToken);
        Assert.Equal(3, probe.Started);
        Assert.Equal(0, coordinator.IdleProbesRunning);
    }

    [Theory]
    [InlineData(5, 5, 6, "Watchdog:IdleProbe:Interval")]
    [InlineData(60, 1, 2, "Watchdog:IdleProbe:RetryInterval")]
    public void Options_CrossFieldRules_NameTheSetting(int intervalSeconds, int retrySeconds, int timeoutSeconds, string setting)
    {
        var result = new IdleProbeOptionsValidator().Validate(null, new IdleProbeOptions
        {
            Interval = TimeSpan.FromSeconds(intervalSeconds), RetryInterval = TimeSpan.FromSeconds(retrySeconds), ProbeTimeout = TimeSpan.FromSeconds(timeoutSeconds),
        });

        Assert.True(result.Failed);
        Assert.Contains(setting, result.FailureMessage, StringComparison.Ordinal);
    }

    /// <summary>Generations that answer when the gate opens.</summary>
    private sealed class BlockingProbe(Task<GenerationProbe> gate) : IEngineProbe
    {
        private int _started;

        public int Started => Volatile.Read(ref _started);

        public Task<InFlight?> ReadInFlightAsync(Platform.Fleet.Catalog.EngineInfo engine, CancellationToken cancellationToken) => Task.FromResult<InFlight?>(new InFlight(0, 0, 0));

        public Task<bool> IsHealthyAsync(Platform.Fleet.Catalog.EngineInfo engine, CancellationToken cancellationToken) => Task.FromResult(true);

        public Task<GenerationProbe> GenerateOneTokenAsync(Platform.Fleet.Catalog.EngineInfo engine, TimeSpan timeout, CancellationToken cancellationToken)
        {
            Interlocked.Increment(ref _started);
            return gate.WaitAsync(cancellationToken);
        }
    }
}
