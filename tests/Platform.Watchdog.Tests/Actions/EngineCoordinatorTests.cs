using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using Microsoft.Extensions.Time.Testing;
using Platform.Watchdog.Actions;
using Platform.Watchdog.Detection;
using Platform.Watchdog.Events;
using Platform.Watchdog.Orchestrators;
using Platform.Watchdog.Probing;
using Platform.Watchdog.Tests.Fixtures;
using Platform.Watchdog.V1;

namespace Platform.Watchdog.Tests.Actions;

/// <summary>The decision procedure on fakes: a fake clock, scripted probes and restarter, an in-memory drain flag.</summary>
public sealed class EngineCoordinatorTests : IDisposable
{
    private readonly FakeTimeProvider _time = new(new DateTimeOffset(2026, 1, 1, 12, 0, 0, TimeSpan.Zero));
    private readonly FakeCatalog _catalog = new(("general", 2), ("code", 1));
    private readonly FakeFleetState _fleet = new();
    private readonly FakeProbe _probe = new();
    private readonly FakeRestarter _restarter = new();
    private readonly FakeLeadership _leadership = new();
    private readonly EventLog _events;
    private readonly EngineCoordinator _coordinator;

    public EngineCoordinatorTests()
    {
        _events = new EventLog(_time);
        var budget = new BudgetOptions { MinHealthyPerPool = 1, MaxUnavailablePerPool = 1, MaxRestartsPerHour = 3, InitialBackoff = TimeSpan.FromSeconds(30), MaxBackoff = TimeSpan.FromMinutes(10) };
        var options = new WatchdogOptions { DrainMinimum = TimeSpan.Zero, StaleViewAfter = TimeSpan.FromSeconds(5) };
        IDegradationDetector[] detectors =
        [
            new DeadDetector(Options.Create(new DeadDetectorOptions { GracePeriod = TimeSpan.Zero })),
            new HungDetector(Options.Create(new HungDetectorOptions())),
            new KvDriftDetector(Options.Create(new KvDriftDetectorOptions { Window = TimeSpan.FromSeconds(10) })),
        ];
        _coordinator = new EngineCoordinator(
            _catalog, _fleet, _probe, _restarter, _events, _leadership, detectors,
            Options.Create(options), Options.Create(budget), Options.Create(new HungDetectorOptions()), _time, NullLogger<EngineCoordinator>.Instance);
    }

    public void Dispose() => _coordinator.Dispose();

    /// <summary>One snapshot per second for <paramref name="seconds"/> seconds: every engine healthy unless shaped.</summary>
    private async Task FeedAsync(int seconds, Func<EngineObservation, EngineObservation>? shape = null)
    {
        for (var i = 0; i < seconds; i++)
        {
            var now = _time.GetUtcNow();
            _coordinator.OnSnapshot(_catalog.Engines.Select(e => (shape ?? (o => o))(Observations.Healthy(e.Id, now, e.Pool))).ToList());
            await _coordinator.Idle.WaitAsync(TimeSpan.FromSeconds(10), TestContext.Current.CancellationToken);
            _time.Advance(TimeSpan.FromSeconds(1));
        }
    }

    private static Func<EngineObservation, EngineObservation> Only(string engineId, Func<EngineObservation, EngineObservation> shape) =>
        o => o.EngineId == engineId ? shape(o) : o;

    private List<EventKind> Kinds(string engineId) => _events.Recent(1000, engineId).Select(e => e.Kind).ToList();

    [Fact]
    public async Task HungEngine_DeepProbeFails_IsDrainedRestartedWarmedAndUndrained()
    {
        _probe.Generation = id => id == "general-1" && _restarter.Restarts.IsEmpty
            ? new GenerationProbe(false, TimeSpan.FromSeconds(5), "no answer within 5 s")
            : new GenerationProbe(true, TimeSpan.FromMilliseconds(3), "ok");

        await FeedAsync(1, Only("general-1", o => o with { Stalled = true, Running = 3 }));

        Assert.Equal(["general-1"], _restarter.Restarts);
        Assert.Equal(
            [EventKind.Detected, EventKind.DrainStarted, EventKind.DrainCompleted, EventKind.RestartRequested, EventKind.Recovered, EventKind.Undrained],
            Kinds("general-1"));
        var detected = _events.Recent(1000, "general-1")[0];
        Assert.Equal("hung", detected.Source);
        Assert.Contains("deep probe (1-token generation) failed: no answer within 5 s", detected.Reason, StringComparison.Ordinal);
        Assert.Equal([("general-1", true), ("general-1", false)], _fleet.DrainChanges.Select(c => (c.Engine, c.Draining)));
        Assert.False(_fleet.IsDraining("general-1"));
        Assert.Equal(1, _coordinator.Status().Single(s => s.EngineId == "general-1").RestartsLastHour);
    }

    [Fact]
    public async Task StalledEngine_DeepProbeAnswers_IsLeftAlone()
    {
        await FeedAsync(3, Only("general-1", o => o with { Stalled = true }));

        Assert.Empty(_restarter.Restarts);
        Assert.Empty(Kinds("general-1"));
        Assert.True(_probe.Generations.Count >= 1);
    }

    [Fact]
    public async Task DriftingLastEngineOfAPool_IsDeferredOnceAndNeverRestarted()
    {
        var step = 0;
        await FeedAsync(20, Only("code-0", o => o with { KvCacheUsage = Math.Min(1, 0.1 + (0.05 * step++)), Running = 2 }));

        Assert.Empty(_restarter.Restarts);
        Assert.Equal([EventKind.Detected, EventKind.Deferred], Kinds("code-0"));
        Assert.Contains("code-0 still serves and pool code would keep 0 healthy engine(s)", _events.Recent(1, "code-0")[0].Reason, StringComparison.Ordinal);
        Assert.False(_fleet.IsDraining("code-0"));
    }

    [Fact]
    public async Task DeadLastEngineOfAPool_IsRestarted()
    {
        var dead = true;
        await FeedAsync(1, Only("code-0", o => dead ? o with { Reachable = false, ConsecutiveScrapeErrors = 3, LastScrapeError = "connect" } : o));

        Assert.Equal(["code-0"], _restarter.Restarts);
        Assert.Equal(EventKind.Undrained, Kinds("code-0")[^1]);
    }

    [Fact]
    public async Task TwoDeadEnginesInOnePool_AreRestartedOneAtATime()
    {
        var gate = new TaskCompletionSource();
        var restarter = _restarter;
        _probe.Healthy = id => !(id == "general-0" && !gate.Task.IsCompleted);

        var now = _time.GetUtcNow();
        _coordinator.OnSnapshot(_catalog.Engines.Select(e => Observations.Healthy(e.Id, now, e.Pool) is var o && e.Pool == "general"
            ? o with { Reachable = false, ConsecutiveScrapeErrors = 5 }
            : o).ToList());

        // general-0 is warming (its /health fails until the gate opens), so general-1 waits.
        await Poll.UntilAsync(() => restarter.Restarts.Count == 1, TimeSpan.FromSeconds(10), "the first restart");
        Assert.Equal(["general-0"], restarter.Restarts);
        Assert.Contains(EventKind.Deferred, Kinds("general-1"));
        Assert.Contains("already has 1 engine(s) draining or restarting", _events.Recent(1, "general-1")[0].Reason, StringComparison.Ordinal);

        gate.SetResult();
        await Poll.UntilAsync(async () =>
        {
            _time.Advance(TimeSpan.FromMilliseconds(250));
            await Task.Yield();
            return Kinds("general-0").Contains(EventKind.Undrained);
        }, TimeSpan.FromSeconds(10), "general-0 back in service");
        await FeedAsync(1, Only("general-1", o => o with { Reachable = false, ConsecutiveScrapeErrors = 5 }));

        Assert.Equal(["general-0", "general-1"], restarter.Restarts);
    }

    [Fact]
    public async Task RepeatedHang_WaitsOutTheBackoffThenEscalatesWhenTheHourlyBudgetIsSpent()
    {
        _probe.Generation = _ => new GenerationProbe(true, TimeSpan.FromMilliseconds(3), "ok");
        var dead = Only("general-1", o => o with { Reachable = false, ConsecutiveScrapeErrors = 3 });

        await FeedAsync(1, dead);
        Assert.Single(_restarter.Restarts);

        // Dead again at once: back-off (30 s after the first restart), one DEFERRED event however often it is seen.
        await FeedAsync(10, dead);
        Assert.Single(_restarter.Restarts);
        Assert.Single(_events.Recent(1000, "general-1"), e => e.Kind == EventKind.Deferred && e.Reason.StartsWith("back-off", StringComparison.Ordinal));

        await FeedAsync(25, dead);
        Assert.Equal(2, _restarter.Restarts.Count);

        // Second back-off is 60 s.
        await FeedAsync(62, dead);
        Assert.Equal(3, _restarter.Restarts.Count);

        // Budget (3 per hour) spent: escalation, once, and no fourth restart however long it stays dead.
        await FeedAsync(200, dead);
        Assert.Equal(3, _restarter.Restarts.Count);
        var escalations = _events.Recent(1000, "general-1").Where(e => e.Kind == EventKind.Escalated).ToList();
        Assert.Single(escalations);
        Assert.Contains("restart budget spent: 3 restarts in the last hour (at most 3)", escalations[0].Reason, StringComparison.Ordinal);
        Assert.Equal(EngineActionState.Escalated, _coordinator.Status().Single(s => s.EngineId == "general-1").State);
    }

    [Fact]
    public async Task HungAgainDuringBackoff_IsDeferredWithoutProbingItAgain()
    {
        _probe.Generation = id => id == "general-1" && _restarter.Restarts.IsEmpty
            ? new GenerationProbe(false, TimeSpan.FromSeconds(5), "no answer within 5 s")
            : new GenerationProbe(true, TimeSpan.FromMilliseconds(3), "ok");
        var stalled = Only("general-1", o => o with { Stalled = true, Running = 3 });
        await FeedAsync(1, stalled);
        Assert.Single(_restarter.Restarts);
        var probes = _probe.Generations.Count;

        await FeedAsync(20, stalled);

        Assert.Equal(probes, _probe.Generations.Count);
        Assert.Single(_restarter.Restarts);
        var deferred = Assert.Single(_events.Recent(1000, "general-1"), e => e.Kind == EventKind.Deferred);
        Assert.StartsWith("back-off", deferred.Reason, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Follower_NeverActs()
    {
        _leadership.IsLeader = false;

        await FeedAsync(3, Only("general-1", o => o with { Reachable = false, ConsecutiveScrapeErrors = 9 }));

        Assert.Empty(_restarter.Restarts);
        Assert.Empty(_events.Recent(1000));
        Assert.Equal(OperatorRefusal.NotLeader, _coordinator.Restart("general-1", "test", force: true).Refusal);
    }

    [Fact]
    public async Task StaleView_IsNotActedOn()
    {
        var now = _time.GetUtcNow();
        _coordinator.OnSnapshot([Observations.Healthy("general-1", now) with { Reachable = false, ConsecutiveScrapeErrors = 2 }]);
        _time.Advance(TimeSpan.FromSeconds(6));

        // The history says dead (3 failures) but the last snapshot is 6 s old.
        _coordinator.Evaluate();
        await _coordinator.Idle;

        Assert.Empty(_restarter.Restarts);
    }

    [Fact]
    public async Task RestartFails_EngineStaysDrainedUntilHealthyAndWarmThenUndrains()
    {
        _restarter.Failure = _ => new EngineRestartException("control API answered 500");
        await FeedAsync(1, Only("general-1", o => o with { Reachable = false, ConsecutiveScrapeErrors = 3 }));

        Assert.Equal(EventKind.Failed, Kinds("general-1")[^1]);
        Assert.Contains("fake restart failed: control API answered 500; the engine stays drained", _events.Recent(1, "general-1")[0].Reason, StringComparison.Ordinal);
        Assert.True(_fleet.IsDraining("general-1"));

        await FeedAsync(1);

        Assert.False(_fleet.IsDraining("general-1"));
        Assert.Equal("recovery", _events.Recent(1, "general-1")[0].Source);
    }

    [Fact]
    public async Task Drain_WaitsWhileRequestsProgress_AndStopsWhenTheyStall()
    {
        double tokens = 0;
        var progressing = true;
        _probe.InFlight = id => id == "general-1" ? new InFlight(2, 0, progressing ? tokens += 10 : tokens) : new InFlight(0, 0, 0);
        _coordinator.OnSnapshot(_catalog.Engines.Select(e => Observations.Healthy(e.Id, _time.GetUtcNow(), e.Pool)).ToList());
        var started = _coordinator.Restart("general-1", "test", force: false);
        Assert.Equal(EventKind.DrainStarted, started.Event!.Kind);

        for (var i = 0; i < 20; i++)
        {
            _time.Advance(TimeSpan.FromMilliseconds(250));
            await Task.Delay(1, TestContext.Current.CancellationToken);
        }

        Assert.DoesNotContain(EventKind.DrainCompleted, Kinds("general-1"));
        progressing = false;
        await Poll.UntilAsync(async () =>
        {
            _time.Advance(TimeSpan.FromMilliseconds(250));
            await Task.Delay(1);
            return Kinds("general-1").Contains(EventKind.DrainCompleted);
        }, TimeSpan.FromSeconds(10), "the drain to end");

        var completed = _events.Recent(1000, "general-1").First(e => e.Kind == EventKind.DrainCompleted);
        Assert.Contains("2 running and 0 waiting made no progress for 3.", completed.Reason, StringComparison.Ordinal);
        Assert.True(completed.At.ToDateTimeOffset() - started.Event.At.ToDateTimeOffset() >= TimeSpan.FromSeconds(8));
    }

    [Fact]
    public async Task OperatorRestart_OfTheLastHealthyEngine_IsRefusedUnlessForced()
    {
        await FeedAsync(1);

        var refused = _coordinator.Restart("code-0", "maintenance", force: false);
        Assert.Equal(OperatorRefusal.DisruptionBudget, refused.Refusal);
        Assert.Contains("(force overrides)", refused.Detail, StringComparison.Ordinal);
        Assert.Empty(_restarter.Restarts);

        var forced = _coordinator.Restart("code-0", "maintenance", force: true);
        Assert.Equal(OperatorRefusal.None, forced.Refusal);
        Assert.Equal("operator", forced.Event!.Source);
        await _coordinator.Idle;
        Assert.Equal(["code-0"], _restarter.Restarts);
    }

    /// <summary>
    /// An operator restart of <paramref name="engine"/>, held in its warm-up until <paramref name="whileWarming"/> has
    /// delivered what the HealthScorer says meanwhile; returns once the engine is undrained.
    /// </summary>
    private async Task RestartThroughWarmUpAsync(string engine, Action<DateTimeOffset> whileWarming)
    {
        var gate = new TaskCompletionSource();
        _probe.Healthy = id => !(id == engine && !gate.Task.IsCompleted);

        Assert.Equal(OperatorRefusal.None, _coordinator.Restart(engine, "rolling restart", force: false).Refusal);
        await Poll.UntilAsync(
            () => _coordinator.Status().Single(s => s.EngineId == engine).State == EngineActionState.Warming, TimeSpan.FromSeconds(10), engine + " warming");
        whileWarming(_time.GetUtcNow());
        gate.SetResult();
        await Poll.UntilAsync(async () =>
        {
            _time.Advance(TimeSpan.FromMilliseconds(250));
            await Task.Yield();
            return Kinds(engine).Contains(EventKind.Undrained);
        }, TimeSpan.FromSeconds(10), engine + " back in service");
    }

    [Fact]
    public async Task Restart_TheOldProcessesReadingArrivesWhileWarming_IsNotHeldAgainstTheNewOne()
    {
        var scrapedBeforeTheRestart = _time.GetUtcNow();
        await FeedAsync(1);

        // The HealthScorer has not scraped the new process yet: it repeats its view of the old, stalled one.
        await RestartThroughWarmUpAsync("general-0", now => _coordinator.OnSnapshot(_catalog.Engines
            .Select(e => Observations.Healthy(e.Id, now, e.Pool) is var o && e.Id == "general-0" ? o with { Stalled = true, Running = 3, ScrapedAt = scrapedBeforeTheRestart } : o)
            .ToList()));
        _coordinator.Evaluate();
        await _coordinator.Idle;

        Assert.Equal([EventKind.DrainStarted, EventKind.DrainCompleted, EventKind.RestartRequested, EventKind.Recovered, EventKind.Undrained], Kinds("general-0"));
        Assert.Equal(["general-0"], _restarter.Restarts);
    }

    [Fact]
    public async Task RollingRestart_SiblingRightAfterAnUndrain_IsNotRefusedByTheBudget()
    {
        await FeedAsync(1);

        // The HealthScorer sees the new process serve while the watchdog warms it; then it is warm and undrained, and the
        // operator restarts its sibling before the next snapshot.
        await RestartThroughWarmUpAsync("general-0", now => _coordinator.OnSnapshot(_catalog.Engines.Select(e => Observations.Healthy(e.Id, now, e.Pool)).ToList()));

        var sibling = _coordinator.Restart("general-1", "rolling restart", force: false);
        Assert.Equal(OperatorRefusal.None, sibling.Refusal);
        Assert.Equal(EventKind.DrainStarted, sibling.Event!.Kind);
        await _coordinator.Idle;
        Assert.Equal(["general-0", "general-1"], _restarter.Restarts);
    }

    [Fact]
    public async Task OperatorDrain_IsIdempotentAndStopsAutomaticActionsUntilUndrained()
    {
        await FeedAsync(1);
        var ct = TestContext.Current.CancellationToken;

        var first = await _coordinator.DrainAsync("general-0", "look at it", force: false, ct);
        var second = await _coordinator.DrainAsync("general-0", "look at it", force: false, ct);
        Assert.Equal(first.Event!.Sequence, second.Event!.Sequence);
        Assert.True(_fleet.IsDraining("general-0"));

        await FeedAsync(2, Only("general-0", o => o with { Reachable = false, ConsecutiveScrapeErrors = 4 }));
        Assert.Empty(_restarter.Restarts);

        // general-1 is now the last healthy engine of its pool: draining it too is refused.
        Assert.Equal(OperatorRefusal.DisruptionBudget, (await _coordinator.DrainAsync("general-1", "x", force: false, ct)).Refusal);

        var undrained = await _coordinator.UndrainAsync("general-0", "done", ct);
        Assert.Equal(EventKind.Undrained, undrained.Event!.Kind);
        Assert.False(_fleet.IsDraining("general-0"));
        Assert.Equal(OperatorRefusal.UnknownEngine, (await _coordinator.UndrainAsync("nope-0", "x", ct)).Refusal);
    }
}
