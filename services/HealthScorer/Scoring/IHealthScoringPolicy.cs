using Microsoft.Extensions.Options;

namespace Platform.HealthScorer.Scoring;

/// <summary>Turns what is known about an engine into a score, 0 (unusable) to 100 (idle and fast). Chosen by name.</summary>
internal interface IHealthScoringPolicy
{
    string Name { get; }

    /// <summary>The score of <paramref name="status"/> (its own <see cref="EngineStatus.Score"/> is not read).</summary>
    double Score(EngineStatus status);
}

/// <summary>
/// <c>score = 100 × (1 − kv) × 1/(1 + waiting) × 1/(1 + preemptions/s) × min(1, ttft_target / ttft_p95)</c>, and 0 for an
/// engine that is unreachable or stalled. An unknown KV usage counts as 0.5; an unknown queue, preemption rate or
/// TTFT (nothing in the window) leaves its factor at 1. The first two factors are the gateway's own fallback score,
/// so routing does not jump when it switches between the HealthScorer and its own scraper.
/// </summary>
internal sealed class DefaultScoringPolicy(IOptions<HealthScorerOptions> options) : IHealthScoringPolicy
{
    public const string PolicyName = "default";

    public string Name => PolicyName;

    public double Score(EngineStatus status)
    {
        if (!status.Healthy)
        {
            return 0;
        }

        var kv = double.IsNaN(status.KvCacheUsage) ? 0.5 : Math.Clamp(status.KvCacheUsage, 0, 1);
        var score = 100.0 * (1.0 - kv);
        score /= 1.0 + Positive(status.Waiting);
        score /= 1.0 + Positive(status.PreemptionsPerSecond);
        var ttft = status.TtftP95Seconds;
        if (ttft > 0)
        {
            score *= Math.Min(1.0, options.Value.TtftTarget.TotalSeconds / ttft);
        }

        return Math.Round(Math.Clamp(score, 0, 100), 1);
    }

    private static double Positive(double value) => double.IsNaN(value) || value < 0 ? 0 : value;
}
