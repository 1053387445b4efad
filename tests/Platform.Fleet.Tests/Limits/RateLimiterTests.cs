using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using Microsoft.Extensions.Time.Testing;
using Platform.Fleet.Limits;
using Platform.Fleet.Redis;
using Platform.Fleet.Tests.Fixtures;

namespace Platform.Fleet.Tests.Limits;

/// <summary>The limiter on a real redis-server (two instances = two gateway replicas) and on local counts.</summary>
public sealed class RateLimiterTests : IAsyncLifetime
{
    // A whole minute: the previous bucket is empty and the window starts fresh.
    private readonly FakeTimeProvider _time = new(new DateTimeOffset(2026, 1, 1, 0, 0, 0, TimeSpan.Zero));
    private readonly List<IAsyncDisposable> _disposables = [];
    private RedisServer _redis = null!;

    public async ValueTask InitializeAsync() => _redis = await RedisServer.StartAsync();

    public async ValueTask DisposeAsync()
    {
        foreach (var disposable in _disposables)
        {
            await disposable.DisposeAsync();
        }

        await _redis.DisposeAsync();
    }

    [Fact]
    public async Task TryAcquireAsync_TwoReplicasSharingRedis_EnforceRequestsPerMinuteTogether()
    {
        var a = await CreateAsync(_redis);
        var b = await CreateAsync(_redis);
        var limits = new RateLimits(RequestsPerMinute: 10, TokensPerMinute: 0);

        for (var i = 0; i < 10; i++)
        {
            var replica = i % 2 == 0 ? a : b;
            Assert.True((await replica.TryAcquireAsync("tenant-a", limits, default)).Allowed);
        }

        var rejectedByA = await a.TryAcquireAsync("tenant-a", limits, default);
        var rejectedByB = await b.TryAcquireAsync("tenant-a", limits, default);

        Assert.False(rejectedByA.Allowed);
        Assert.False(rejectedByB.Allowed);
        Assert.Equal("requests", rejectedByA.Limit);
        // Ten in this minute: the estimate falls to nine 6 s into the next minute (10 * (1 - 6/60)).
        Assert.Equal(TimeSpan.FromSeconds(66), rejectedByA.RetryAfter);
        Assert.True((await a.TryAcquireAsync("tenant-b", limits, default)).Allowed);

        _time.Advance(TimeSpan.FromSeconds(65));
        Assert.False((await b.TryAcquireAsync("tenant-a", limits, default)).Allowed);
        _time.Advance(TimeSpan.FromSeconds(1));
        Assert.True((await b.TryAcquireAsync("tenant-a", limits, default)).Allowed);
        Assert.False((await a.TryAcquireAsync("tenant-a", limits, default)).Allowed);
    }

    [Fact]
    public async Task TryAcquireAsync_TokensChargedByOtherReplica_RejectedOnceBudgetSpent()
    {
        var a = await CreateAsync(_redis);
        var b = await CreateAsync(_redis);
        var limits = new RateLimits(RequestsPerMinute: 100, TokensPerMinute: 1000);

        Assert.True((await a.TryAcquireAsync("tenant", limits, default)).Allowed);
        await b.RecordTokensAsync("tenant", limits, 600, default);
        Assert.True((await a.TryAcquireAsync("tenant", limits, default)).Allowed);
        await a.RecordTokensAsync("tenant", limits, 400, default);

        var rejected = await b.TryAcquireAsync("tenant", limits, default);

        Assert.False(rejected.Allowed);
        Assert.Equal("tokens", rejected.Limit);
        Assert.InRange(rejected.RetryAfter, TimeSpan.FromSeconds(60), TimeSpan.FromSeconds(62));
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public async Task TryAcquireAsync_PreviousMinuteWeighted_RetryAfterWithinTheMinute(bool withRedis)
    {
        var limiter = await CreateAsync(withRedis ? _redis : null);
        var limits = new RateLimits(RequestsPerMinute: 10, TokensPerMinute: 0);
        for (var i = 0; i < 10; i++)
        {
            Assert.True((await limiter.TryAcquireAsync("k", limits, default)).Allowed);
        }

        // Half-way through the next minute the previous ten weigh five: five more fit.
        _time.Advance(TimeSpan.FromSeconds(90));
        for (var i = 0; i < 5; i++)
        {
            Assert.True((await limiter.TryAcquireAsync("k", limits, default)).Allowed);
        }

        var rejected = await limiter.TryAcquireAsync("k", limits, default);

        Assert.False(rejected.Allowed);
        // 10 * (1 - t/60) + 5 + 1 <= 10 once t >= 36 s, i.e. 6 s from now.
        Assert.Equal(TimeSpan.FromSeconds(6), rejected.RetryAfter);
        _time.Advance(TimeSpan.FromSeconds(6));
        Assert.True((await limiter.TryAcquireAsync("k", limits, default)).Allowed);
    }

    [Fact]
    public async Task TryAcquireAsync_RedisDown_EnforcesLocallyWithoutThrowing()
    {
        var limiter = await CreateAsync(_redis);
        var limits = new RateLimits(RequestsPerMinute: 3, TokensPerMinute: 100);
        Assert.True((await limiter.TryAcquireAsync("k", limits, default)).Allowed);

        await _redis.StopAsync();

        Assert.True((await limiter.TryAcquireAsync("k", limits, default)).Allowed);
        Assert.True((await limiter.TryAcquireAsync("k", limits, default)).Allowed);
        Assert.True((await limiter.TryAcquireAsync("k", limits, default)).Allowed);
        var rejected = await limiter.TryAcquireAsync("k", limits, default);
        Assert.False(rejected.Allowed);
        Assert.Equal("requests", rejected.Limit);
        await limiter.RecordTokensAsync("k2", limits, 100, default);
        var tokens = await limiter.TryAcquireAsync("k2", limits, default);
        Assert.False(tokens.Allowed);
        Assert.Equal("tokens", tokens.Limit);
    }

    [Fact]
    public async Task TryAcquireAsync_NoLimits_AlwaysAllowed()
    {
        var limiter = await CreateAsync(null);

        for (var i = 0; i < 100; i++)
        {
            Assert.True((await limiter.TryAcquireAsync("k", new RateLimits(0, 0), default)).Allowed);
        }
    }

    private async Task<RedisRateLimiter> CreateAsync(RedisServer? redis)
    {
        var connection = new FleetRedisConnection(redis?.ConnectionString, NullLogger<FleetRedisConnection>.Instance);
        _disposables.Add(connection);
        var limiter = new RedisRateLimiter(
            Options.Create(new RateLimiterOptions()), connection, _time, NullLogger<RedisRateLimiter>.Instance, new FleetMetrics());
        await limiter.StartAsync(TestContext.Current.CancellationToken);
        return limiter;
    }
}
