using System.Collections.Concurrent;
using Platform.Fleet.Limits;

namespace Platform.Gateway.Tests.Fixtures.Stack;

/// <summary>An in-process limiter for front-end tests: counts requests per key and rejects above the limit.</summary>
internal sealed class CountingRateLimiter : IRateLimiter
{
    private readonly ConcurrentDictionary<string, int> _requests = new();

    public ConcurrentDictionary<string, long> Tokens { get; } = new();

    public ValueTask<RateLimitDecision> TryAcquireAsync(string key, RateLimits limits, CancellationToken cancellationToken)
    {
        var count = _requests.AddOrUpdate(key, 1, (_, c) => c + 1);
        return ValueTask.FromResult(limits.RequestsPerMinute > 0 && count > limits.RequestsPerMinute
            ? new RateLimitDecision(false, "requests_per_minute", TimeSpan.FromSeconds(42))
            : new RateLimitDecision(true, null, TimeSpan.Zero));
    }

    public ValueTask RecordTokensAsync(string key, RateLimits limits, long tokens, CancellationToken cancellationToken)
    {
        Tokens.AddOrUpdate(key, tokens, (_, t) => t + tokens);
        return ValueTask.CompletedTask;
    }
}
