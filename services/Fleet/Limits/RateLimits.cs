namespace Platform.Fleet.Limits;

/// <summary>Per-key limits; 0 means unlimited.</summary>
public sealed record RateLimits(int RequestsPerMinute, int TokensPerMinute);

/// <summary>The answer of the limiter. <see cref="RetryAfter"/> is set when rejected.</summary>
public readonly record struct RateLimitDecision(bool Allowed, string? Limit, TimeSpan RetryAfter);

/// <summary>
/// Requests/min and tokens/min per API key, shared by every gateway replica through Redis (atomic Lua). When Redis
/// is unreachable each replica enforces the limits on its own counts and says so in a metric.
/// </summary>
public interface IRateLimiter
{
    /// <summary>Admits one request, checking the request limit and that the token budget is not already spent.</summary>
    ValueTask<RateLimitDecision> TryAcquireAsync(string key, RateLimits limits, CancellationToken cancellationToken);

    /// <summary>Charges tokens actually used (prompt + completion) once a request ends.</summary>
    ValueTask RecordTokensAsync(string key, RateLimits limits, long tokens, CancellationToken cancellationToken);
}
