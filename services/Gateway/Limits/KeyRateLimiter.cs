using Platform.Fleet.Limits;
using Platform.Gateway.Api;
using Platform.Gateway.Auth;
using Platform.Gateway.Pipeline;
using Platform.Gateway.Telemetry;

namespace Platform.Gateway.Limits;

/// <summary>
/// Per-key limits through the shared <see cref="IRateLimiter"/> (Redis, all replicas): a request is admitted before
/// routing (requests/min, and a token budget not already spent) and charged its real token usage when it ends.
/// Limits are keyed by tenant, never by the key itself.
/// </summary>
internal sealed partial class KeyRateLimiter(IRateLimiter limiter, GatewayTelemetry telemetry, ILogger<KeyRateLimiter> logger)
{
    public async ValueTask<GatewayError?> AdmitAsync(ApiKey key, CancellationToken cancellationToken)
    {
        if (key.Limits is { RequestsPerMinute: 0, TokensPerMinute: 0 })
        {
            return null;
        }

        var decision = await limiter.TryAcquireAsync(key.Tenant, key.Limits, cancellationToken).ConfigureAwait(false);
        if (decision.Allowed)
        {
            return null;
        }

        var limit = decision.Limit ?? "requests_per_minute";
        telemetry.RateLimitRejected(key.Tenant, limit);
        Log.Rejected(logger, key.Tenant, limit, decision.RetryAfter.TotalMilliseconds);
        var retryAfter = decision.RetryAfter > TimeSpan.Zero ? decision.RetryAfter : TimeSpan.FromSeconds(1);
        return GatewayErrors.RateLimited(limit, retryAfter);
    }

    /// <summary>Charges the tokens a finished request used; never fails the request.</summary>
    public async ValueTask ChargeAsync(ApiKey key, GenerationUsage usage)
    {
        if (key.Limits.TokensPerMinute == 0 || usage.TotalTokens == 0)
        {
            return;
        }

        try
        {
            await limiter.RecordTokensAsync(key.Tenant, key.Limits, usage.TotalTokens, CancellationToken.None).ConfigureAwait(false);
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            Log.ChargeFailed(logger, key.Tenant, e);
        }
    }

    private static partial class Log
    {
        [LoggerMessage(EventId = 200, Level = LogLevel.Information, Message = "Rate limit {Limit} reached for tenant {Tenant}; retry after {RetryAfterMs} ms.")]
        public static partial void Rejected(ILogger logger, string tenant, string limit, double retryAfterMs);

        [LoggerMessage(EventId = 201, Level = LogLevel.Warning, Message = "Charging tokens for tenant {Tenant} failed.")]
        public static partial void ChargeFailed(ILogger logger, string tenant, Exception exception);
    }
}
