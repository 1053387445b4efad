using System.Collections.Concurrent;
using System.Diagnostics.Metrics;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using Microsoft.Extensions.Time.Testing;
using Platform.Gateway.Pipeline;
using Platform.Gateway.Routing;
using Platform.Gateway.Tests.Fixtures.Engines;

namespace Platform.Gateway.Tests.Routing;

public sealed class EngineLatencyTrackerTests : IDisposable
{
    private readonly FakeTimeProvider _time = new(new DateTimeOffset(2026, 1, 1, 0, 0, 0, TimeSpan.Zero));
    private readonly TestMeterFactory _meters = new();

    public void Dispose() => _meters.Dispose();

    private EngineLatencyTracker Tracker(RoutingOptions? options = null) =>
        new(Options.Create(options ?? new RoutingOptions()), _time, new EngineSideMetrics(_meters), NullLogger<EngineLatencyTracker>.Instance);

    [Fact]
    public void Estimate_NeverObserved_IsNone()
    {
        var estimate = Tracker().Estimate("e");

        Assert.Equal(0, estimate.TtftSamples);
        Assert.Equal(0, estimate.ItlSamples);
        Assert.True(double.IsNaN(estimate.TtftSeconds));
    }

    [Fact]
    public void Forget_AnOutlier_ReadmitsItAndItIsLearntAgain()
    {
        var tracker = Tracker();
        tracker.RecordFirstToken("e", TimeSpan.FromMilliseconds(900));
        tracker.RecordStream("e", TimeSpan.FromMilliseconds(900), TimeSpan.FromMilliseconds(1900), 11);
        tracker.SetOutlier("e", true, tracker.Estimate("e"), 9);

        tracker.Forget("e", "KV-cache pressure cleared");

        Assert.False(tracker.IsOutlier("e"));
        Assert.Equal(0, tracker.Estimate("e").TtftSamples);
        Assert.Equal(0, tracker.Estimate("e").ItlSamples);
        tracker.RecordFirstToken("e", TimeSpan.FromMilliseconds(30));
        Assert.Equal(0.030, tracker.Estimate("e").TtftSeconds, 9);
    }

    [Theory]
    [InlineData(true, false, true)]   // under pressure -> normal: forgotten
    [InlineData(false, true, true)]   // unreachable -> reachable: forgotten
    [InlineData(false, false, false)] // normal -> normal: kept
    public void HealthViewUpdate_EngineRecovers_LatencyForgotten(bool wasUnderPressure, bool wasUnreachable, bool forgotten)
    {
        var view = new Platform.Gateway.Health.EngineHealthView(
            new FakeFleetState(), Options.Create(new Platform.Gateway.Health.HealthOptions()), _time);
        var tracker = new EngineLatencyTracker(
            Options.Create(new RoutingOptions()), _time, new EngineSideMetrics(_meters), NullLogger<EngineLatencyTracker>.Instance, view);
        var now = _time.GetUtcNow();
        view.Update(
            new Platform.Fleet.State.EngineHealthEntry(
                "e", 50, wasUnderPressure ? Platform.Fleet.State.PressureState.UnderPressure : Platform.Fleet.State.PressureState.Normal,
                !wasUnreachable, 0.9, 10, 5, 0.5, now),
            Platform.Gateway.Health.HealthSource.HealthScorer);
        tracker.RecordFirstToken("e", TimeSpan.FromMilliseconds(900));

        view.Update(
            new Platform.Fleet.State.EngineHealthEntry("e", 90, Platform.Fleet.State.PressureState.Normal, true, 0.5, 4, 0, 0.05, now),
            Platform.Gateway.Health.HealthSource.HealthScorer);

        Assert.Equal(forgotten ? 0 : 1, tracker.Estimate("e").TtftSamples);
    }

    [Fact]
    public void RecordFirstToken_FirstSample_IsTheEstimate()
    {
        var tracker = Tracker();

        tracker.RecordFirstToken("e", TimeSpan.FromMilliseconds(120));

        Assert.Equal(0.120, tracker.Estimate("e").TtftSeconds, 9);
        Assert.Equal(1, tracker.Estimate("e").TtftSamples);
    }

    [Fact]
    public void RecordFirstToken_SampleOneHalfLifeOld_WeighsHalfANewOne()
    {
        var tracker = Tracker(new RoutingOptions { LatencyHalfLife = TimeSpan.FromSeconds(4) });
        tracker.RecordFirstToken("e", TimeSpan.FromMilliseconds(100));

        _time.Advance(TimeSpan.FromSeconds(4));
        tracker.RecordFirstToken("e", TimeSpan.FromMilliseconds(400));

        // (0.5 x 100 + 1 x 400) / 1.5
        Assert.Equal(0.300, tracker.Estimate("e").TtftSeconds, 9);
        Assert.Equal(2, tracker.Estimate("e").TtftSamples);
    }

    [Fact]
    public void RecordFirstToken_OneOddSampleAmongRecentOnes_WeighsAsOne()
    {
        var tracker = Tracker(new RoutingOptions { LatencyHalfLife = TimeSpan.FromSeconds(5) });
        tracker.RecordFirstToken("e", TimeSpan.FromMilliseconds(2100));
        for (var i = 0; i < 20; i++)
        {
            _time.Advance(TimeSpan.FromMilliseconds(1));
            tracker.RecordFirstToken("e", TimeSpan.FromMilliseconds(100));
        }

        // A cold start first: about (2100 + 20 x 100) / 21, not the 2100 an EWMA seeded with it would still say.
        Assert.InRange(tracker.Estimate("e").TtftSeconds, 0.190, 0.196);
    }

    [Fact]
    public void RecordFirstToken_AfterAQuietSpell_TheNewSampleDecides()
    {
        var tracker = Tracker(new RoutingOptions { LatencyHalfLife = TimeSpan.FromSeconds(5) });
        for (var i = 0; i < 50; i++)
        {
            _time.Advance(TimeSpan.FromMilliseconds(10));
            tracker.RecordFirstToken("e", TimeSpan.FromMilliseconds(400));
        }

        _time.Advance(TimeSpan.FromSeconds(60));
        tracker.RecordFirstToken("e", TimeSpan.FromMilliseconds(100));

        // 50 samples twelve half-lives old weigh 50 / 4096 together.
        Assert.InRange(tracker.Estimate("e").TtftSeconds, 0.100, 0.104);
    }

    [Fact]
    public void RecordFirstToken_EnginesApart_EachHasItsOwnEstimate()
    {
        var tracker = Tracker();

        tracker.RecordFirstToken("a", TimeSpan.FromMilliseconds(10));
        tracker.RecordFirstToken("b", TimeSpan.FromMilliseconds(40));

        Assert.Equal(0.010, tracker.Estimate("a").TtftSeconds, 9);
        Assert.Equal(0.040, tracker.Estimate("b").TtftSeconds, 9);
    }

    [Fact]
    public void RecordStream_InterTokenLatency_IsTheTimeAfterTheFirstTokenPerToken()
    {
        var tracker = Tracker();

        tracker.RecordStream("e", TimeSpan.FromMilliseconds(100), TimeSpan.FromMilliseconds(1100), tokens: 11);

        Assert.Equal(0.100, tracker.Estimate("e").ItlSeconds, 9);
        Assert.Equal(1, tracker.Estimate("e").ItlSamples);
        Assert.Equal(0, tracker.Estimate("e").TtftSamples);
    }

    [Fact]
    public void RecordStream_OneToken_IsNoSample()
    {
        var tracker = Tracker();

        tracker.RecordStream("e", TimeSpan.FromMilliseconds(100), TimeSpan.FromMilliseconds(150), tokens: 1);

        Assert.Equal(0, tracker.Estimate("e").ItlSamples);
    }

    [Fact]
    public void TryTakeProbe_OutlierJustEjected_FirstProbeAfterAWholeInterval_OnePerInterval()
    {
        var tracker = Tracker(new RoutingOptions { OutlierProbeInterval = TimeSpan.FromSeconds(2), OutlierProbeRequests = 1 });
        tracker.SetOutlier("e", outlier: true, LatencyEstimate.None, 4);

        Assert.False(tracker.TryTakeProbe("e"));
        _time.Advance(TimeSpan.FromSeconds(2));
        Assert.True(tracker.TryTakeProbe("e"));
        Assert.False(tracker.TryTakeProbe("e"));
        _time.Advance(TimeSpan.FromSeconds(1.9));
        Assert.False(tracker.TryTakeProbe("e"));
        _time.Advance(TimeSpan.FromSeconds(0.1));
        Assert.True(tracker.TryTakeProbe("e"));
    }

    [Fact]
    public void TryTakeProbe_IntervalLongPast_StillOneInOutlierProbeRequests()
    {
        var tracker = Tracker(new RoutingOptions { OutlierProbeInterval = TimeSpan.FromSeconds(1), OutlierProbeRequests = 5 });
        tracker.SetOutlier("e", outlier: true, LatencyEstimate.None, 4);
        _time.Advance(TimeSpan.FromMinutes(1));

        var grants = Enumerable.Range(0, 15).Select(_ => tracker.TryTakeProbe("e")).ToArray();

        Assert.Equal([false, false, false, false, true, false, false, false, false, false, false, false, false, false, false], grants);
        _time.Advance(TimeSpan.FromSeconds(1));
        Assert.True(tracker.TryTakeProbe("e"));
    }

    [Fact]
    public void Metrics_EstimatesOutlierStateEjectionsAndProbes_PerEngine()
    {
        var measurements = new ConcurrentBag<(string Name, double Value, string? Engine)>();
        using var listener = new MeterListener();
        listener.InstrumentPublished = (instrument, l) =>
        {
            if (instrument.Meter.Scope == _meters)
            {
                l.EnableMeasurementEvents(instrument);
            }
        };
        listener.SetMeasurementEventCallback<long>((i, v, tags, _) => measurements.Add((i.Name, v, Engine(tags))));
        listener.SetMeasurementEventCallback<double>((i, v, tags, _) => measurements.Add((i.Name, v, Engine(tags))));
        listener.SetMeasurementEventCallback<int>((i, v, tags, _) => measurements.Add((i.Name, v, Engine(tags))));
        listener.Start();
        var tracker = Tracker(new RoutingOptions { OutlierProbeInterval = TimeSpan.FromSeconds(1), OutlierProbeRequests = 1 });
        tracker.RecordFirstToken("fast", TimeSpan.FromMilliseconds(20));
        tracker.RecordStream("fast", TimeSpan.FromMilliseconds(20), TimeSpan.FromMilliseconds(50), tokens: 4);
        tracker.RecordFirstToken("slow", TimeSpan.FromMilliseconds(90));
        tracker.AttemptSent("slow");

        tracker.SetOutlier("slow", outlier: true, tracker.Estimate("slow"), 4.5);
        tracker.SetOutlier("slow", outlier: true, tracker.Estimate("slow"), 4.5);
        tracker.SetOutlier("fast", outlier: false, tracker.Estimate("fast"), 1);
        _time.Advance(TimeSpan.FromSeconds(1));
        Assert.True(tracker.TryTakeProbe("slow"));
        listener.RecordObservableInstruments();

        Assert.Contains(measurements, m => m.Name == "platform.gateway.engine.time_to_first_token.estimate" && m.Engine == "fast" && Math.Abs(m.Value - 0.020) < 1e-9);
        Assert.Contains(measurements, m => m.Name == "platform.gateway.engine.time_to_first_token.estimate" && m.Engine == "slow" && Math.Abs(m.Value - 0.090) < 1e-9);
        Assert.Contains(measurements, m => m.Name == "platform.gateway.engine.inter_token_latency.estimate" && m.Engine == "fast" && Math.Abs(m.Value - 0.010) < 1e-9);
        Assert.DoesNotContain(measurements, m => m.Name == "platform.gateway.engine.inter_token_latency.estimate" && m.Engine == "slow");
        Assert.Contains(measurements, m => m.Name == "platform.gateway.engine.latency_outlier" && m.Engine == "slow" && m.Value == 1);
        Assert.Contains(measurements, m => m.Name == "platform.gateway.engine.latency_outlier" && m.Engine == "fast" && m.Value == 0);
        Assert.Contains(measurements, m => m.Name == "platform.gateway.engine.stall" && m.Engine == "slow" && Math.Abs(m.Value - 1.0) < 1e-9);
        Assert.Contains(measurements, m => m.Name == "platform.gateway.engine.stall" && m.Engine == "fast" && m.Value == 0);
        Assert.Single(measurements, m => m.Name == "platform.gateway.engine.latency_outlier.ejections");
        Assert.Single(measurements, m => m.Name == "platform.gateway.engine.latency_outlier.probes" && m.Engine == "slow");
    }

    private static string? Engine(ReadOnlySpan<KeyValuePair<string, object?>> tags)
    {
        foreach (var tag in tags)
        {
            if (tag.Key == "engine")
            {
                return tag.Value as string;
            }
        }

        return null;
    }
}
