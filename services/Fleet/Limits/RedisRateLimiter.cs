using System.Collections.Concurrent;
using System.Globalization;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Platform.Fleet.Redis;
using StackExchange.Redis;

namespace Platform.Fleet.Limits;

/// <summary>
/// <see cref="IRateLimiter"/> on Redis: one Lua script admits a request across every replica, tokens are charged
/// when a request ends. While Redis is unreachable (not connected, an error, or slower than
/// <see cref="RateLimiterOptions.RedisTimeout"/>) each replica counts on its own with the same sliding window, so a
/// key gets up to its limit per replica during an outage; the <c>source=local</c> metric tag says so. Never throws.
/// </summary>
internal sealed partial class RedisRateLimiter : IRateLimiter, IHostedService
{
    private const string RequestsLimit = "requests";
    private const string TokensLimit = "tokens";

    private readonly RateLimiterOptions _options;
    private readonly FleetRedisConnection _connection;
    private readonly TimeProvider _time;
    private readonly ILogger _logger;
    private readonly FleetMetrics _metrics;
    private readonly ConcurrentDictionary<string, LocalWindow> _local = new(StringComparer.Ordinal);
    private long _redisRetryAtMs;
    private long _sweptMinute;

    public RedisRateLimiter(
        IOptions<RateLimiterOptions> options,
        FleetRedisConnection connection,
        TimeProvider time,
        ILogger<RedisRateLimiter> logger,
        FleetMetrics metrics)
    {
        _options = options.Value;
        _connection = connection;
        _time = time;
        _logger = logger;
        _metrics = metrics;
    }

    public async ValueTask<RateLimitDecision> TryAcquireAsync(string key, RateLimits limits, CancellationToken cancellationToken)
    {
        if (limits.RequestsPerMinute <= 0 && limits.TokensPerMinute <= 0)
        {
            return new RateLimitDecision(true, null, TimeSpan.Zero);
        }

        var now = Now();
        if (Database(now) is { } database)
        {
            var minute = now / SlidingWindow.BucketMs;
            try
            {
                var result = (RedisResult[])(await database.ScriptEvaluateAsync(
                    RateLimitScripts.Acquire,
                    [CounterKey(key, 'r', minute), CounterKey(key, 'r', minute - 1), CounterKey(key, 't', minute), CounterKey(key, 't', minute - 1)],
                    [now, limits.RequestsPerMinute, limits.TokensPerMinute])
                    .WaitAsync(_options.RedisTimeout, cancellationToken).ConfigureAwait(false))!;
                var allowed = (long)result[0] == 1;
                var limit = (string?)result[1] is { Length: > 0 } name ? name : null;
                _metrics.RateLimitDecision(allowed, limit, local: false);
                return allowed
                    ? new RateLimitDecision(true, null, TimeSpan.Zero)
                    : new RateLimitDecision(false, limit, SlidingWindow.ToRetryAfter((long)result[2]));
            }
            catch (Exception ex)
            {
                RedisFailed(now, ex);
            }
        }

        SweepLocal(now);
        var decision = _local.GetOrAdd(key, static _ => new LocalWindow()).TryAcquire(limits, now);
        _metrics.RateLimitDecision(decision.Allowed, decision.Limit, local: true);
        return decision;
    }

    public async ValueTask RecordTokensAsync(string key, RateLimits limits, long tokens, CancellationToken cancellationToken)
    {
        if (limits.TokensPerMinute <= 0 || tokens <= 0)
        {
            return;
        }

        var now = Now();
        if (Database(now) is { } database)
        {
            try
            {
                await database.ScriptEvaluateAsync(RateLimitScripts.Charge, [CounterKey(key, 't', now / SlidingWindow.BucketMs)], [tokens])
                    .WaitAsync(_options.RedisTimeout, cancellationToken).ConfigureAwait(false);
                return;
            }
            catch (Exception ex)
            {
                RedisFailed(now, ex);
            }
        }

        _local.GetOrAdd(key, static _ => new LocalWindow()).Charge(tokens, now);
    }

    public async Task StartAsync(CancellationToken cancellationToken)
    {
        try
        {
            await _connection.ConnectAsync(cancellationToken).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is RedisException or ArgumentException)
        {
            LogRedisUnavailable(_logger, ex);
        }
    }

    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    /// <summary>Drops local windows idle for two minutes, at most once a minute, from the local path itself.</summary>
    private void SweepLocal(long now)
    {
        var minute = now / SlidingWindow.BucketMs;
        var last = Volatile.Read(ref _sweptMinute);
        if (minute == last || Interlocked.CompareExchange(ref _sweptMinute, minute, last) != last)
        {
            return;
        }

        foreach (var (key, window) in _local)
        {
            if (window.IdleSince(minute))
            {
                _local.TryRemove(key, out _);
            }
        }
    }

    private IDatabase? Database(long now)
    {
        if (_connection.Multiplexer is not { IsConnected: true } multiplexer || now < Volatile.Read(ref _redisRetryAtMs))
        {
            return null;
        }

        return multiplexer.GetDatabase();
    }

    private void RedisFailed(long now, Exception exception)
    {
        _metrics.RedisError("ratelimit");
        Volatile.Write(ref _redisRetryAtMs, now + (long)_options.RedisRetryDelay.TotalMilliseconds);
        LogRedisUnavailable(_logger, exception);
    }

    private RedisKey CounterKey(string key, char kind, long minute) =>
        string.Create(CultureInfo.InvariantCulture, $"{_options.KeyPrefix}ratelimit:{key}:{kind}:{minute}");

    private long Now() => _time.GetUtcNow().ToUnixTimeMilliseconds();

    [LoggerMessage(EventId = 120, Level = LogLevel.Warning, Message = "Rate limits decided on this replica's counts: Redis unreachable")]
    private static partial void LogRedisUnavailable(ILogger logger, Exception exception);

    /// <summary>One key's two buckets on this replica, behind a lock (a few arithmetic operations).</summary>
    private sealed class LocalWindow
    {
        private readonly Lock _lock = new();
        private long _minute;
        private long _requests;
        private long _previousRequests;
        private long _tokens;
        private long _previousTokens;

        public RateLimitDecision TryAcquire(RateLimits limits, long now)
        {
            lock (_lock)
            {
                Roll(now / SlidingWindow.BucketMs);
                var elapsed = now % SlidingWindow.BucketMs;
                if (limits.RequestsPerMinute > 0
                    && SlidingWindow.Estimate(_previousRequests, _requests, elapsed) + 1 > limits.RequestsPerMinute)
                {
                    return new RateLimitDecision(false, RequestsLimit, SlidingWindow.ToRetryAfter(
                        SlidingWindow.RetryAfterMs(_previousRequests, _requests, limits.RequestsPerMinute - 1, elapsed)));
                }

                if (limits.TokensPerMinute > 0
                    && SlidingWindow.Estimate(_previousTokens, _tokens, elapsed) >= limits.TokensPerMinute)
                {
                    return new RateLimitDecision(false, TokensLimit, SlidingWindow.ToRetryAfter(
                        SlidingWindow.RetryAfterMs(_previousTokens, _tokens, limits.TokensPerMinute - 1, elapsed)));
                }

                _requests++;
                return new RateLimitDecision(true, null, TimeSpan.Zero);
            }
        }

        public void Charge(long tokens, long now)
        {
            lock (_lock)
            {
                Roll(now / SlidingWindow.BucketMs);
                _tokens += tokens;
            }
        }

        public bool IdleSince(long minute)
        {
            lock (_lock)
            {
                return minute - _minute >= 2;
            }
        }

        private void Roll(long minute)
        {
            if (minute == _minute)
            {
                return;
            }

            var adjacent = minute == _minute + 1;
            _previousRequests = adjacent ? _requests : 0;
            _previousTokens = adjacent ? _tokens : 0;
            _requests = 0;
            _tokens = 0;
            _minute = minute;
        }
    }
}
