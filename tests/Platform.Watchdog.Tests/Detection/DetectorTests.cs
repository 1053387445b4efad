using Microsoft.Extensions.Options;
using Platform.Watchdog.Detection;
using Platform.Watchdog.Tests.Fixtures;

namespace Platform.Watchdog.Tests.Detection;

public sealed class DetectorTests
{
    private static readonly DateTimeOffset T0 = new(2026, 1, 1, 12, 0, 0, TimeSpan.Zero);

    private static EngineHistory History(params EngineObservation[] observations)
    {
        var history = new EngineHistory("general-0");
        foreach (var o in observations)
        {
            history.Add(o, TimeSpan.FromMinutes(10));
        }

        return history;
    }

    /// <summary>One observation per second from T0 for <paramref name="seconds"/> + 1 seconds, shaped by <paramref name="shape"/>.</summary>
    private static EngineHistory Series(int seconds, Func<int, EngineObservation, EngineObservation> shape) =>
        History(Enumerable.Range(0, seconds + 1).Select(i => shape(i, Observations.Healthy("general-0", T0.AddSeconds(i)))).ToArray());

    [Fact]
    public void Dead_FewerFailuresThanTheThreshold_FindsNothing()
    {
        var detector = new DeadDetector(Options.Create(new DeadDetectorOptions { FailedChecks = 3, GracePeriod = TimeSpan.Zero }));
        var history = History(Observations.Healthy("general-0", T0) with { Reachable = false, ConsecutiveScrapeErrors = 2, LastScrapeError = "connect" });

        Assert.Null(detector.Evaluate(history, T0));
    }

    [Fact]
    public void Dead_ThresholdOfFailedChecks_NamesTheCountAndTheLastError()
    {
        var detector = new DeadDetector(Options.Create(new DeadDetectorOptions { FailedChecks = 3, GracePeriod = TimeSpan.Zero }));
        var history = History(Observations.Healthy("general-0", T0) with { Reachable = false, ConsecutiveScrapeErrors = 3, LastScrapeError = "health: status 503" });

        var found = detector.Evaluate(history, T0);

        Assert.NotNull(found);
        Assert.Equal("dead", found.Detector);
        Assert.False(found.NeedsDeepProbe);
        Assert.Contains("3 failed checks in a row", found.Reason, StringComparison.Ordinal);
        Assert.Contains("health: status 503", found.Reason, StringComparison.Ordinal);
    }

    [Fact]
    public void Dead_RecoveredAfterFailures_FindsNothing()
    {
        var detector = new DeadDetector(Options.Create(new DeadDetectorOptions { FailedChecks = 3, GracePeriod = TimeSpan.Zero }));
        var history = History(
            Observations.Healthy("general-0", T0) with { Reachable = false, ConsecutiveScrapeErrors = 5 },
            Observations.Healthy("general-0", T0.AddSeconds(1)));

        Assert.Null(detector.Evaluate(history, T0.AddSeconds(1)));
    }

    [Fact]
    public void Dead_FailingShorterThanTheGracePeriod_IsLeftToTheOrchestrator()
    {
        var detector = new DeadDetector(Options.Create(new DeadDetectorOptions { FailedChecks = 3, GracePeriod = TimeSpan.FromSeconds(45) }));
        var history = Series(60, (i, o) => i < 20 ? o : o with { Reachable = false, ConsecutiveScrapeErrors = (uint)(i - 19), LastScrapeError = "connect" });

        Assert.Null(detector.Evaluate(history, T0.AddSeconds(60)));

        history.Add(Observations.Healthy("general-0", T0.AddSeconds(65)) with { Reachable = false, ConsecutiveScrapeErrors = 46, LastScrapeError = "connect" }, TimeSpan.FromMinutes(10));
        var found = detector.Evaluate(history, T0.AddSeconds(65));
        Assert.NotNull(found);
        Assert.Contains("for 45.0 s, not brought back by the orchestrator", found.Reason, StringComparison.Ordinal);
    }

    [Fact]
    public void Hung_NotStalled_FindsNothing()
    {
        var detector = new HungDetector(Options.Create(new HungDetectorOptions()));

        Assert.Null(detector.Evaluate(Series(5, (_, o) => o), T0.AddSeconds(5)));
    }

    [Fact]
    public void Hung_StalledShorterThanRequired_FindsNothingThenAsksForADeepProbeOnceLongEnough()
    {
        var detector = new HungDetector(Options.Create(new HungDetectorOptions { StalledFor = TimeSpan.FromSeconds(3) }));
        var history = Series(10, (i, o) => o with { Stalled = i >= 8, Running = 4 });

        Assert.Null(detector.Evaluate(history, T0.AddSeconds(10)));

        history.Add(Observations.Healthy("general-0", T0.AddSeconds(11)) with { Stalled = true, Running = 4 }, TimeSpan.FromMinutes(10));
        var found = detector.Evaluate(history, T0.AddSeconds(11));

        Assert.NotNull(found);
        Assert.Equal("hung", found.Detector);
        Assert.True(found.NeedsDeepProbe);
        Assert.Contains("seen so for 3.0 s", found.Reason, StringComparison.Ordinal);
        Assert.Contains("4 running, no token generated", found.Reason, StringComparison.Ordinal);
    }

    [Fact]
    public void Hung_StallInterruptedByProgress_CountsFromTheLastBreak()
    {
        var detector = new HungDetector(Options.Create(new HungDetectorOptions { StalledFor = TimeSpan.FromSeconds(5) }));
        var history = Series(10, (i, o) => o with { Stalled = i != 7 });

        Assert.Null(detector.Evaluate(history, T0.AddSeconds(10)));
    }

    private static KvDriftDetector KvDrift() => new(Options.Create(new KvDriftDetectorOptions
    {
        Window = TimeSpan.FromSeconds(60), MinRise = 0.25, IdleUsage = 0.3, HighUsage = 0.9, ThroughputDrop = 0.5,
    }));

    [Fact]
    public void KvDrift_UsageRisingWhileRunningStaysFlat_IsShrinkingCapacity()
    {
        var history = Series(60, (i, o) => o with { KvCacheUsage = 0.2 + (0.5 * i / 60), Running = 4 });

        var found = KvDrift().Evaluate(history, T0.AddSeconds(60));

        Assert.NotNull(found);
        Assert.Equal("kv_drift", found.Detector);
        Assert.StartsWith("shrinking: KV usage 0.20 -> 0.70", found.Reason, StringComparison.Ordinal);
    }

    [Fact]
    public void KvDrift_UsageRisingWithTheLoad_FindsNothing()
    {
        var history = Series(60, (i, o) => o with { KvCacheUsage = 0.2 + (0.5 * i / 60), Running = 4 + i });

        Assert.Null(KvDrift().Evaluate(history, T0.AddSeconds(60)));
    }

    [Fact]
    public void KvDrift_WindowNotCoveredYet_FindsNothing()
    {
        var history = Series(30, (i, o) => o with { KvCacheUsage = 0.2 + (0.02 * i), Running = 4 });

        Assert.Null(KvDrift().Evaluate(history, T0.AddSeconds(30)));
    }

    [Fact]
    public void KvDrift_UsageHeldWithNothingRunning_IsLeakedCapacity()
    {
        var history = Series(60, (_, o) => o with { KvCacheUsage = 0.45, Running = 0, Waiting = 0, GenerationTokensPerSecond = 0 });

        var found = KvDrift().Evaluate(history, T0.AddSeconds(60));

        Assert.NotNull(found);
        Assert.StartsWith("leaked: KV usage at least 0.45", found.Reason, StringComparison.Ordinal);
    }

    [Fact]
    public void KvDrift_IdleEngineWithLowUsage_FindsNothing()
    {
        var history = Series(60, (_, o) => o with { KvCacheUsage = 0.05, Running = 0, Waiting = 0 });

        Assert.Null(KvDrift().Evaluate(history, T0.AddSeconds(60)));
    }

    [Fact]
    public void KvDrift_FullCacheWithThroughputHalvedAndRequestsWaiting_IsChoking()
    {
        var history = Series(60, (i, o) => o with { KvCacheUsage = 0.95, Running = 8, Waiting = 5, GenerationTokensPerSecond = i < 30 ? 400 : 150 });

        var found = KvDrift().Evaluate(history, T0.AddSeconds(60));

        Assert.NotNull(found);
        Assert.StartsWith("choking:", found.Reason, StringComparison.Ordinal);
        Assert.Contains("400 -> 150 tokens/s", found.Reason, StringComparison.Ordinal);
    }

    [Fact]
    public void KvDrift_FullCacheWithSteadyThroughput_IsJustBusy()
    {
        var history = Series(60, (_, o) => o with { KvCacheUsage = 0.95, Running = 8, Waiting = 5, GenerationTokensPerSecond = 400 });

        Assert.Null(KvDrift().Evaluate(history, T0.AddSeconds(60)));
    }

    [Fact]
    public void KvDrift_UnknownUsageInTheWindow_FindsNothing()
    {
        var history = Series(60, (i, o) => o with { KvCacheUsage = i == 30 ? double.NaN : 0.2 + (0.5 * i / 60), Running = 4 });

        Assert.Null(KvDrift().Evaluate(history, T0.AddSeconds(60)));
    }

    private static LatencyDetector Latency() => new(Options.Create(new LatencyDetectorOptions
    {
        TtftP95Budget = TimeSpan.FromSeconds(2), SustainFor = TimeSpan.FromSeconds(120),
    }));

    [Fact]
    public void Latency_OverBudgetForTheWholeWindow_IsDegraded()
    {
        var history = Series(120, (i, o) => o with { TtftP95Seconds = 2.5 + (i % 3) });

        var found = Latency().Evaluate(history, T0.AddSeconds(120));

        Assert.NotNull(found);
        Assert.Equal("latency", found.Detector);
        Assert.Contains("over the 2 s budget for 120 s: at least 2.5 s", found.Reason, StringComparison.Ordinal);
    }

    [Fact]
    public void Latency_OneObservationWithinBudget_BreaksTheRun()
    {
        var history = Series(120, (i, o) => o with { TtftP95Seconds = i == 100 ? 1.9 : 3 });

        Assert.Null(Latency().Evaluate(history, T0.AddSeconds(120)));
    }

    [Fact]
    public void Latency_NoTtftKnown_IsNotEvidence()
    {
        var history = Series(120, (i, o) => o with { TtftP95Seconds = i == 60 ? double.NaN : 3 });

        Assert.Null(Latency().Evaluate(history, T0.AddSeconds(120)));
    }

    [Fact]
    public void Latency_OverBudgetButShorterThanTheWindow_FindsNothing()
    {
        var history = Series(119, (_, o) => o with { TtftP95Seconds = 3 });

        Assert.Null(Latency().Evaluate(history, T0.AddSeconds(119)));
    }

    [Fact]
    public void History_Add_KeepsOneObservationBeforeTheWindowAndDropsOlderOnes()
    {
        var history = new EngineHistory("general-0");
        for (var i = 0; i <= 100; i++)
        {
            history.Add(Observations.Healthy("general-0", T0.AddSeconds(i)), TimeSpan.FromSeconds(30));
        }

        Assert.Equal(T0.AddSeconds(70), history.Observations[0].At);
        Assert.Equal(31, history.Observations.Count);
        Assert.NotNull(history.Window(T0.AddSeconds(100), TimeSpan.FromSeconds(30)));
        Assert.Null(history.Window(T0.AddSeconds(100), TimeSpan.FromSeconds(31)));
    }
}
