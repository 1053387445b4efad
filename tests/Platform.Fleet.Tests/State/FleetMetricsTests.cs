using System.Collections.Concurrent;
using System.Diagnostics.Metrics;
using Microsoft.Extensions.Time.Testing;
using Platform.Fleet.State;
using Platform.Fleet.Tests.Fixtures;

namespace Platform.Fleet.Tests.State;

public sealed class FleetMetricsTests
{
    [Fact]
    public async Task RecordOutcomeAsync_BreakerOpens_TransitionLagAndAvailabilityMeasured()
    {
        await using var redis = await RedisServer.StartAsync();
        var time = new FakeTimeProvider(new DateTimeOffset(2026, 1, 1, 0, 0, 0, TimeSpan.Zero));
        var measurements = new ConcurrentBag<(string Name, double Value, Dictionary<string, object?> Tags)>();
        using var listener = new MeterListener();
        listener.InstrumentPublished = (instrument, l) =>
        {
            if (instrument.Meter.Name == FleetMetrics.MeterName)
            {
                l.EnableMeasurementEvents(instrument);
            }
        };
        listener.SetMeasurementEventCallback<long>((i, v, tags, _) => measurements.Add((i.Name, v, ToDictionary(tags))));
        listener.SetMeasurementEventCallback<double>((i, v, tags, _) => measurements.Add((i.Name, v, ToDictionary(tags))));
        listener.SetMeasurementEventCallback<int>((i, v, tags, _) => measurements.Add((i.Name, v, ToDictionary(tags))));
        listener.Start();
        await using var a = await FleetReplica.StartAsync(redis, time);
        await using var b = await FleetReplica.StartAsync(redis, time);

        await BreakerTests.OpenAsync(a.State, "metered-engine");
        await Poll.UntilAsync(() => b.State.GetBreaker("metered-engine").State == BreakerState.Open, TimeSpan.FromSeconds(10), "replica B to see the breaker");
        listener.RecordObservableInstruments();

        Assert.Contains(measurements, m => m.Name == "platform.fleet.breaker.transitions"
            && (string?)m.Tags["engine"] == "metered-engine" && (string?)m.Tags["from"] == "closed" && (string?)m.Tags["to"] == "open");
        Assert.Contains(measurements, m => m.Name == "platform.fleet.propagation.lag");
        Assert.Contains(measurements, m => m.Name == "platform.fleet.redis.available" && m.Value == 1);
    }

    private static Dictionary<string, object?> ToDictionary(ReadOnlySpan<KeyValuePair<string, object?>> tags)
    {
        var dictionary = new Dictionary<string, object?>();
        foreach (var tag in tags)
        {
            dictionary[tag.Key] = tag.Value;
        }

        return dictionary;
    }
}
