namespace Platform.Fleet.Limits;

/// <summary>
/// The sliding-window estimate shared by the Lua script and the local fallback: two fixed one-minute buckets, the
/// previous one weighted by the part of it still inside the last 60 s (the approach of Cloudflare's and Envoy's
/// limiters): estimate = previous * (1 - elapsed/60 s) + current. O(1) memory per key, at most ~one bucket's error.
/// </summary>
internal static class SlidingWindow
{
    public const long BucketMs = 60_000;

    public static double Estimate(double previous, double current, long elapsedMs) =>
        (previous * (1 - ((double)elapsedMs / BucketMs))) + current;

    /// <summary>Milliseconds until the estimate drops to <paramref name="budget"/> or below (with no new traffic).</summary>
    public static long RetryAfterMs(double previous, double current, double budget, long elapsedMs)
    {
        if (current <= budget && previous > 0)
        {
            var at = BucketMs * (1 - ((budget - current) / previous));
            return Math.Max(1, (long)Math.Ceiling(at - elapsedMs));
        }

        var next = budget <= 0 ? BucketMs : BucketMs * (1 - (budget / current));
        return (BucketMs - elapsedMs) + Math.Max(0, (long)Math.Ceiling(next));
    }

    /// <summary>Retry-After as HTTP sends it: whole seconds, at least one.</summary>
    public static TimeSpan ToRetryAfter(long milliseconds) => TimeSpan.FromSeconds(Math.Max(1, (milliseconds + 999) / 1000));
}
