using System.Diagnostics;
using Platform.Fleet.State;
using Platform.Fleet.Tests.Fixtures;

namespace Platform.Fleet.Tests.State;

/// <summary>The redis-server process is killed under two replicas, then restarted empty on the same port.</summary>
public sealed class RedisOutageTests : IAsyncLifetime
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(10);
    private RedisServer _redis = null!;

    public async ValueTask InitializeAsync() => _redis = await RedisServer.StartAsync();

    public async ValueTask DisposeAsync() => await _redis.DisposeAsync();

    [Fact]
    public async Task RecordOutcomeAsync_RedisStoppedThenRestarted_ServesLocallyThenConverges()
    {
        var output = TestContext.Current.TestOutputHelper;
        await using var a = await FleetReplica.StartAsync(_redis, TimeProvider.System, Options());
        await using var b = await FleetReplica.StartAsync(_redis, TimeProvider.System, Options());
        await a.State.SetDrainingAsync("e-drained", draining: true, "before the outage", default);
        await Poll.UntilAsync(() => b.State.IsDraining("e-drained"), Timeout, "the drain before the outage");

        await _redis.StopAsync();

        // Reads keep working from the local copy; outcomes stay fast and still open the breaker locally.
        Assert.True(a.State.IsDraining("e-drained"));
        var slowest = TimeSpan.Zero;
        BreakerSnapshot snapshot;
        do
        {
            var clock = Stopwatch.StartNew();
            snapshot = await a.State.RecordOutcomeAsync("e1", EngineOutcome.Failure, "connection refused", default);
            slowest = clock.Elapsed > slowest ? clock.Elapsed : slowest;
        }
        while (snapshot.State == BreakerState.Closed);

        for (var i = 0; i < 200; i++)
        {
            var clock = Stopwatch.StartNew();
            await a.State.RecordOutcomeAsync("e2", EngineOutcome.Success, null, default);
            slowest = clock.Elapsed > slowest ? clock.Elapsed : slowest;
        }

        output?.WriteLine($"Slowest RecordOutcomeAsync during the outage: {slowest.TotalMilliseconds:0.000} ms");
        Assert.True(slowest < TimeSpan.FromMilliseconds(300), $"slowest {slowest.TotalMilliseconds} ms");
        Assert.Equal(BreakerState.Open, a.State.GetBreaker("e1").State);
        Assert.False(a.State.RedisAvailable);
        await Poll.UntilAsync(() => !b.State.RedisAvailable, Timeout, "replica B to notice the outage");

        var restarted = Stopwatch.StartNew();
        await _redis.RestartAsync();

        // The restarted server is empty: A pushes its breaker and the drain, B learns them.
        await Poll.UntilAsync(
            () => a.State.RedisAvailable && b.State.RedisAvailable && b.State.GetBreaker("e1").State == BreakerState.Open,
            Timeout,
            "both replicas back on Redis and B seeing A's breaker");
        output?.WriteLine($"Converged {restarted.Elapsed.TotalMilliseconds:0} ms after redis-server was restarted");
        Assert.True(b.State.IsDraining("e-drained"));
        Assert.Equal(a.State.GetBreaker("e1").Version, b.State.GetBreaker("e1").Version);

        // Pub/sub resumed: a new change reaches the other replica without waiting for a reconcile.
        await b.State.SetDrainingAsync("e3", draining: true, "after the outage", default);
        await Poll.UntilAsync(() => a.State.IsDraining("e3"), Timeout, "replica A to see a drain made after the outage");
    }

    [Fact]
    public async Task TryAcquireProbeLeaseAsync_RedisDown_LocalLeaseAndProbeStillWork()
    {
        var time = new Microsoft.Extensions.Time.Testing.FakeTimeProvider(DateTimeOffset.UnixEpoch.AddYears(56));
        await using var a = await FleetReplica.StartAsync(_redis, time, Options());
        await _redis.StopAsync();
        await BreakerTests.OpenAsync(a.State, "e1");
        time.Advance(TimeSpan.FromSeconds(5));

        Assert.True(await a.State.TryAcquireProbeLeaseAsync("e1", default));
        Assert.False(await a.State.TryAcquireProbeLeaseAsync("e1", default));
        var reopened = await a.State.CompleteProbeAsync("e1", success: false, "down", default);
        Assert.Equal(time.GetUtcNow().AddSeconds(10), reopened.RetryAt);
        time.Advance(TimeSpan.FromSeconds(10));
        Assert.True(await a.State.TryAcquireProbeLeaseAsync("e1", default));
        Assert.Equal(BreakerState.Closed, (await a.State.CompleteProbeAsync("e1", success: true, null, default)).State);
        Assert.False(a.State.RedisAvailable);
    }

    private static FleetStateOptions Options() => new() { ReconcileInterval = TimeSpan.FromMilliseconds(400) };
}
