using Microsoft.Extensions.Time.Testing;
using Platform.Fleet.State;
using Platform.Fleet.Tests.Fixtures;

namespace Platform.Fleet.Tests.State;

/// <summary>Breaker transitions through the Lua scripts on a real redis-server, timed by a fake clock.</summary>
public sealed class BreakerTests : IAsyncLifetime
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(10);
    private readonly FakeTimeProvider _time = new(new DateTimeOffset(2026, 1, 1, 0, 0, 0, TimeSpan.Zero));
    private RedisServer _redis = null!;

    public async ValueTask InitializeAsync() => _redis = await RedisServer.StartAsync();

    public async ValueTask DisposeAsync() => await _redis.DisposeAsync();

    [Fact]
    public async Task RecordOutcomeAsync_FiveConsecutiveFailures_OpensBreaker()
    {
        await using var replica = await FleetReplica.StartAsync(_redis, _time);
        var state = replica.State;

        for (var i = 1; i <= 4; i++)
        {
            var snapshot = await state.RecordOutcomeAsync("e1", EngineOutcome.Failure, "connection refused", default);
            Assert.Equal(BreakerState.Closed, snapshot.State);
            Assert.Equal(i, snapshot.ConsecutiveFailures);
        }

        var opened = await state.RecordOutcomeAsync("e1", EngineOutcome.Failure, "connection refused", default);

        Assert.Equal(BreakerState.Open, opened.State);
        Assert.Equal("connection refused", opened.Reason);
        Assert.Equal(_time.GetUtcNow(), opened.OpenedAt);
        Assert.Equal(_time.GetUtcNow().AddSeconds(5), opened.RetryAt);
        Assert.Equal(1, opened.Version);
        Assert.True(state.RedisAvailable);
    }

    [Fact]
    public async Task RecordOutcomeAsync_SuccessBetweenFailures_ResetsConsecutiveCount()
    {
        await using var replica = await FleetReplica.StartAsync(_redis, _time);
        var state = replica.State;

        for (var i = 0; i < 4; i++)
        {
            await state.RecordOutcomeAsync("e1", EngineOutcome.Failure, null, default);
        }

        var afterSuccess = await state.RecordOutcomeAsync("e1", EngineOutcome.Success, null, default);
        var afterFailure = await state.RecordOutcomeAsync("e1", EngineOutcome.Failure, null, default);

        Assert.Equal(0, afterSuccess.ConsecutiveFailures);
        Assert.Equal(BreakerState.Closed, afterFailure.State);
        Assert.Equal(1, afterFailure.ConsecutiveFailures);
    }

    [Fact]
    public async Task RecordOutcomeAsync_FailureRatioOverMinimumAttempts_OpensBreaker()
    {
        await using var replica = await FleetReplica.StartAsync(_redis, _time);
        var state = replica.State;

        // Alternating failure/success: never two failures in a row, half of the attempts fail.
        for (var i = 0; i < 10; i++)
        {
            Assert.Equal(BreakerState.Closed, (await state.RecordOutcomeAsync("e1", EngineOutcome.Failure, "5xx", default)).State);
            Assert.Equal(BreakerState.Closed, (await state.RecordOutcomeAsync("e1", EngineOutcome.Success, null, default)).State);
        }

        var opened = await state.RecordOutcomeAsync("e1", EngineOutcome.Failure, "5xx", default);

        Assert.Equal(BreakerState.Open, opened.State);
        Assert.Equal(1, opened.ConsecutiveFailures);
    }

    [Fact]
    public async Task RecordOutcomeAsync_Ignored_NeverCounts()
    {
        await using var replica = await FleetReplica.StartAsync(_redis, _time);
        var state = replica.State;

        for (var i = 0; i < 4; i++)
        {
            await state.RecordOutcomeAsync("e1", EngineOutcome.Failure, null, default);
        }

        for (var i = 0; i < 50; i++)
        {
            await state.RecordOutcomeAsync("e1", EngineOutcome.Ignored, "client cancelled", default);
        }

        var snapshot = state.GetBreaker("e1");
        Assert.Equal(BreakerState.Closed, snapshot.State);
        Assert.Equal(4, snapshot.ConsecutiveFailures);
    }

    [Fact]
    public async Task GetBreaker_CoolDownElapsed_IsHalfOpen()
    {
        await using var replica = await FleetReplica.StartAsync(_redis, _time);
        var state = replica.State;
        await OpenAsync(state, "e1");

        _time.Advance(TimeSpan.FromSeconds(4.9));
        Assert.Equal(BreakerState.Open, state.GetBreaker("e1").State);
        Assert.False(await state.TryAcquireProbeLeaseAsync("e1", default));

        _time.Advance(TimeSpan.FromSeconds(0.1));
        Assert.Equal(BreakerState.HalfOpen, state.GetBreaker("e1").State);
    }

    [Fact]
    public async Task TryAcquireProbeLeaseAsync_TwoReplicas_ExactlyOneWins()
    {
        await using var a = await FleetReplica.StartAsync(_redis, _time);
        await using var b = await FleetReplica.StartAsync(_redis, _time);
        await OpenAsync(a.State, "e1");
        await Poll.UntilAsync(() => b.State.GetBreaker("e1").State == BreakerState.Open, Timeout, "replica B to see the open breaker");
        _time.Advance(TimeSpan.FromSeconds(5));

        var results = await Task.WhenAll(
            a.State.TryAcquireProbeLeaseAsync("e1", default).AsTask(),
            b.State.TryAcquireProbeLeaseAsync("e1", default).AsTask());

        Assert.Single(results, granted => granted);
        Assert.False(await a.State.TryAcquireProbeLeaseAsync("e1", default));
        Assert.False(await b.State.TryAcquireProbeLeaseAsync("e1", default));
    }

    [Fact]
    public async Task CompleteProbeAsync_Failure_ReopensWithDoubledCoolDownThenSuccessCloses()
    {
        await using var a = await FleetReplica.StartAsync(_redis, _time);
        await using var b = await FleetReplica.StartAsync(_redis, _time);
        await OpenAsync(a.State, "e1");
        _time.Advance(TimeSpan.FromSeconds(5));
        Assert.True(await a.State.TryAcquireProbeLeaseAsync("e1", default));

        var reopened = await a.State.CompleteProbeAsync("e1", success: false, "probe timed out", default);

        Assert.Equal(BreakerState.Open, reopened.State);
        Assert.Equal(_time.GetUtcNow().AddSeconds(10), reopened.RetryAt);
        Assert.Equal("probe timed out", reopened.Reason);
        _time.Advance(TimeSpan.FromSeconds(9.9));
        Assert.False(await b.State.TryAcquireProbeLeaseAsync("e1", default));
        _time.Advance(TimeSpan.FromSeconds(0.1));
        Assert.True(await b.State.TryAcquireProbeLeaseAsync("e1", default));
        Assert.Equal(
            _time.GetUtcNow().AddSeconds(20),
            (await b.State.CompleteProbeAsync("e1", success: false, "again", default)).RetryAt);
        _time.Advance(TimeSpan.FromSeconds(20));
        Assert.True(await b.State.TryAcquireProbeLeaseAsync("e1", default));

        var closed = await b.State.CompleteProbeAsync("e1", success: true, null, default);

        Assert.Equal(BreakerState.Closed, closed.State);
        Assert.Equal(0, closed.ConsecutiveFailures);
        await Poll.UntilAsync(() => a.State.GetBreaker("e1").State == BreakerState.Closed, Timeout, "replica A to see the closed breaker");
        Assert.Equal(closed.Version, a.State.GetBreaker("e1").Version);
    }

    [Fact]
    public async Task CompleteProbeAsync_RepeatedFailures_CoolDownCappedAtMaximum()
    {
        await using var replica = await FleetReplica.StartAsync(_redis, _time);
        var state = replica.State;
        await OpenAsync(state, "e1");

        BreakerSnapshot snapshot = state.GetBreaker("e1");
        for (var i = 0; i < 6; i++)
        {
            _time.Advance(snapshot.RetryAt!.Value - _time.GetUtcNow());
            Assert.True(await state.TryAcquireProbeLeaseAsync("e1", default));
            snapshot = await state.CompleteProbeAsync("e1", success: false, "down", default);
        }

        Assert.Equal(TimeSpan.FromSeconds(60), snapshot.RetryAt!.Value - _time.GetUtcNow());
    }

    internal static async Task OpenAsync(IFleetState state, string engineId)
    {
        BreakerSnapshot snapshot;
        do
        {
            snapshot = await state.RecordOutcomeAsync(engineId, EngineOutcome.Failure, "connection refused", default);
        }
        while (snapshot.State == BreakerState.Closed);
    }
}

/// <summary>The same window rules through the Lua scripts and through the local mirror (no Redis).</summary>
public sealed class BreakerWindowTests : IAsyncLifetime
{
    private readonly FakeTimeProvider _time = new(new DateTimeOffset(2026, 1, 1, 0, 0, 0, TimeSpan.Zero));
    private RedisServer _redis = null!;

    public async ValueTask InitializeAsync() => _redis = await RedisServer.StartAsync();

    public async ValueTask DisposeAsync() => await _redis.DisposeAsync();

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public async Task RecordOutcomeAsync_PreviousBucketWeighted_OpensExactlyAtTheRatio(bool withRedis)
    {
        await using var replica = await FleetReplica.StartAsync(withRedis ? _redis : null, _time);
        var state = replica.State;
        for (var i = 0; i < 9; i++)
        {
            await state.RecordOutcomeAsync("e1", EngineOutcome.Failure, "5xx", default);
            await state.RecordOutcomeAsync("e1", EngineOutcome.Success, null, default);
        }

        // Next 30 s bucket, half-way: the previous 9 failures / 18 attempts weigh 4.5 / 9.
        _time.Advance(TimeSpan.FromSeconds(45));
        for (var i = 0; i < 5; i++)
        {
            Assert.Equal(BreakerState.Closed, (await state.RecordOutcomeAsync("e1", EngineOutcome.Failure, "5xx", default)).State);
            Assert.Equal(BreakerState.Closed, (await state.RecordOutcomeAsync("e1", EngineOutcome.Success, null, default)).State);
        }

        // 9 + 11 = 20 weighted attempts, 4.5 + 6 = 10.5 failures: ratio 0.525.
        var opened = await state.RecordOutcomeAsync("e1", EngineOutcome.Failure, "5xx", default);

        Assert.Equal(BreakerState.Open, opened.State);
        Assert.Equal(withRedis, state.RedisAvailable);
    }

    [Fact]
    public async Task RecordOutcomeAsync_OldBucketsOutsideTheWindow_Forgotten()
    {
        await using var replica = await FleetReplica.StartAsync(_redis, _time);
        var state = replica.State;
        for (var i = 0; i < 9; i++)
        {
            await state.RecordOutcomeAsync("e1", EngineOutcome.Failure, "5xx", default);
            await state.RecordOutcomeAsync("e1", EngineOutcome.Success, null, default);
        }

        // Two buckets later the 18 attempts are gone; kept, 27 attempts with 14 failures would open it.
        _time.Advance(TimeSpan.FromSeconds(60));
        for (var i = 0; i < 4; i++)
        {
            await state.RecordOutcomeAsync("e1", EngineOutcome.Failure, "5xx", default);
            await state.RecordOutcomeAsync("e1", EngineOutcome.Success, null, default);
        }

        Assert.Equal(BreakerState.Closed, (await state.RecordOutcomeAsync("e1", EngineOutcome.Failure, "5xx", default)).State);
    }
}
