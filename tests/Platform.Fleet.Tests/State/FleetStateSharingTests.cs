using System.Collections.Concurrent;
using System.Diagnostics;
using Microsoft.Extensions.Time.Testing;
using Platform.Fleet.State;
using Platform.Fleet.Tests.Fixtures;
using StackExchange.Redis;

namespace Platform.Fleet.Tests.State;

/// <summary>Two replicas (two ConnectionMultiplexers) on one redis-server: what one changes, the other applies.</summary>
public sealed class FleetStateSharingTests : IAsyncLifetime
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(10);
    private readonly FakeTimeProvider _time = new(new DateTimeOffset(2026, 1, 1, 0, 0, 0, TimeSpan.Zero));
    private RedisServer _redis = null!;

    public async ValueTask InitializeAsync() => _redis = await RedisServer.StartAsync();

    public async ValueTask DisposeAsync() => await _redis.DisposeAsync();

    [Fact]
    public async Task RecordOutcomeAsync_BreakerOpenedByReplicaA_AppliedByReplicaBWithinMilliseconds()
    {
        const int Transitions = 100;
        var options = new FleetStateOptions { ConsecutiveFailures = 1 };
        await using var a = await FleetReplica.StartAsync(_redis, _time, options);
        await using var b = await FleetReplica.StartAsync(_redis, _time, new FleetStateOptions());
        var seen = new ConcurrentDictionary<string, long>();
        b.State.Changed += change =>
        {
            if (change.Kind == FleetChangeKind.Breaker && change.Origin == a.State.Origin)
            {
                seen.TryAdd(change.EngineId, Stopwatch.GetTimestamp());
            }
        };

        // Warm the scripts and the connections.
        await a.State.RecordOutcomeAsync("warm", EngineOutcome.Failure, null, default);
        await Poll.UntilAsync(() => seen.ContainsKey("warm"), Timeout, "the warm-up transition");

        var lags = new List<double>(Transitions);
        for (var i = 0; i < Transitions; i++)
        {
            var engineId = $"e{i}";
            var start = Stopwatch.GetTimestamp();
            var opened = await a.State.RecordOutcomeAsync(engineId, EngineOutcome.Failure, "5xx", default);
            Assert.Equal(BreakerState.Open, opened.State);
            await Poll.UntilAsync(() => seen.ContainsKey(engineId), Timeout, $"replica B to see {engineId} open");
            lags.Add(Stopwatch.GetElapsedTime(start, seen[engineId]).TotalMilliseconds);
            Assert.Equal(BreakerState.Open, b.State.GetBreaker(engineId).State);
        }

        lags.Sort();
        var p50 = lags[Transitions / 2];
        var p99 = lags[(int)Math.Ceiling(Transitions * 0.99) - 1];
        TestContext.Current.TestOutputHelper?.WriteLine(
            $"Breaker propagation A -> B over {Transitions} transitions (script call included): p50 {p50:0.000} ms, p99 {p99:0.000} ms, max {lags[^1]:0.000} ms");
        Assert.True(p99 < 100, $"p99 propagation {p99:0.000} ms");
    }

    [Fact]
    public async Task SetDrainingAsync_SetByOneReplica_VisibleToTheOther()
    {
        await using var a = await FleetReplica.StartAsync(_redis, _time);
        await using var b = await FleetReplica.StartAsync(_redis, _time);

        await a.State.SetDrainingAsync("e1", draining: true, "watchdog: ttft degraded", default);

        Assert.True(a.State.IsDraining("e1"));
        await Poll.UntilAsync(() => b.State.IsDraining("e1"), Timeout, "replica B to see the drain");

        await b.State.SetDrainingAsync("e1", draining: false, null, default);

        await Poll.UntilAsync(() => !a.State.IsDraining("e1"), Timeout, "replica A to see the drain lifted");
        Assert.False(b.State.IsDraining("e1"));
    }

    [Fact]
    public async Task PublishHealthAsync_Entries_VisibleToOtherReplicaAndExpireByTtl()
    {
        await using var a = await FleetReplica.StartAsync(_redis, _time);
        await using var b = await FleetReplica.StartAsync(_redis, _time);
        var entry = new EngineHealthEntry("e1", 0.8, PressureState.UnderPressure, true, 0.91, 12, 3, 0.25, _time.GetUtcNow());

        await a.State.PublishHealthAsync([entry], default);

        await Poll.UntilAsync(() => b.State.GetHealth("e1") is not null, Timeout, "replica B to see the health entry");
        Assert.Equal(entry, b.State.GetHealth("e1"));
        await using (var redis = await ConnectionMultiplexer.ConnectAsync(_redis.ConnectionString))
        {
            var ttl = await redis.GetDatabase().KeyTimeToLiveAsync("platform:fleet:health:e1");
            Assert.InRange(ttl!.Value, TimeSpan.FromSeconds(1), TimeSpan.FromSeconds(10));
        }

        _time.Advance(TimeSpan.FromSeconds(10));

        Assert.Null(a.State.GetHealth("e1"));
        Assert.Null(b.State.GetHealth("e1"));
    }

    [Fact]
    public async Task PublishHealthAsync_UnknownFiguresAreNaN_VisibleToOtherReplica()
    {
        await using var a = await FleetReplica.StartAsync(_redis, _time);
        await using var b = await FleetReplica.StartAsync(_redis, _time);

        // As the gateway's own scraper publishes: it has no TTFT percentile.
        var entry = new EngineHealthEntry("e1", 40, PressureState.Normal, false, 0.2, 3, 1, double.NaN, _time.GetUtcNow());
        await a.State.PublishHealthAsync([entry], default);

        await Poll.UntilAsync(() => b.State.GetHealth("e1") is not null, Timeout, "replica B to see the health entry");
        Assert.Equal(entry, b.State.GetHealth("e1"));
        Assert.True(a.State.RedisAvailable);
    }

    [Fact]
    public async Task StartAsync_ExistingState_LoadedByANewReplica()
    {
        await using var a = await FleetReplica.StartAsync(_redis, _time);
        await BreakerTests.OpenAsync(a.State, "e1");
        await a.State.SetDrainingAsync("e2", draining: true, "operator", default);

        await using var late = await FleetReplica.StartAsync(_redis, _time);

        Assert.Equal(BreakerState.Open, late.State.GetBreaker("e1").State);
        Assert.True(late.State.IsDraining("e2"));
    }

    [Fact]
    public async Task ReconcileAsync_MissedMessage_HealedByReload()
    {
        await using var a = await FleetReplica.StartAsync(_redis, _time);
        await using var b = await FleetReplica.StartAsync(_redis, _time);

        // A change written behind the replicas' backs: no message is published.
        await using (var redis = await ConnectionMultiplexer.ConnectAsync(_redis.ConnectionString))
        {
            var db = redis.GetDatabase();
            await db.HashSetAsync("platform:fleet:drain:e9", [new("d", "1"), new("ver", "1"), new("reason", "manual")]);
            await db.SetAddAsync("platform:fleet:engines", "e9");
        }

        Assert.False(b.State.IsDraining("e9"));
        await b.State.ReconcileAsync(default);

        Assert.True(b.State.IsDraining("e9"));
    }

    [Fact]
    public async Task AddFleetState_NoConnectionString_RunsLocalOnly()
    {
        await using var local = await FleetReplica.StartAsync(null, _time);

        await BreakerTests.OpenAsync(local.State, "e1");
        await local.State.SetDrainingAsync("e2", true, null, default);

        Assert.False(local.State.RedisAvailable);
        Assert.Equal(BreakerState.Open, local.State.GetBreaker("e1").State);
        Assert.True(local.State.IsDraining("e2"));
    }
}
