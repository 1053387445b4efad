using System.ComponentModel.DataAnnotations;
using Microsoft.Extensions.Options;

namespace Platform.HealthScorer.Scoring;

/// <summary>Scraping, windows, thresholds and the score (section <c>HealthScorer</c>).</summary>
internal sealed class HealthScorerOptions
{
    public const string SectionName = "HealthScorer";

    /// <summary>How often every engine is scraped (all engines at once).</summary>
    [Range(typeof(TimeSpan), "00:00:00.050", "00:10:00")]
    public TimeSpan ScrapeInterval { get; set; } = TimeSpan.FromSeconds(1);

    /// <summary>Timeout of one engine's scrape (/metrics and /health together).</summary>
    [Range(typeof(TimeSpan), "00:00:00.010", "00:01:00")]
    public TimeSpan ScrapeTimeout { get; set; } = TimeSpan.FromSeconds(1);

    /// <summary>Sliding window of the rates and latency quantiles.</summary>
    [Range(typeof(TimeSpan), "00:00:01", "01:00:00")]
    public TimeSpan Window { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>Consecutive failed scrapes after which an engine is unreachable.</summary>
    [Range(1, 100)]
    public int UnreachableAfterFailures { get; set; } = 2;

    /// <summary>An engine whose last successful scrape is older than this is unreachable (stale).</summary>
    [Range(typeof(TimeSpan), "00:00:00.100", "01:00:00")]
    public TimeSpan StaleAfter { get; set; } = TimeSpan.FromSeconds(3);

    /// <summary>KV-cache usage above which an engine goes under pressure.</summary>
    [Range(0.0, 1.0)]
    public double PressureOpenThreshold { get; set; } = 0.88;

    /// <summary>KV-cache usage below which an engine under pressure returns to normal (hysteresis).</summary>
    [Range(0.0, 1.0)]
    public double PressureCloseThreshold { get; set; } = 0.79;

    /// <summary>Running requests and no generated token for this long, while /health says 200: stalled.</summary>
    [Range(typeof(TimeSpan), "00:00:00.100", "01:00:00")]
    public TimeSpan StallAfter { get; set; } = TimeSpan.FromSeconds(5);

    /// <summary>The time-to-first-token p95 the score treats as good; slower engines lose score in proportion.</summary>
    [Range(typeof(TimeSpan), "00:00:00.001", "00:10:00")]
    public TimeSpan TtftTarget { get; set; } = TimeSpan.FromSeconds(1);

    /// <summary>Largest /metrics body read; a larger one is a failed scrape (the read stops there).</summary>
    [Range(1024, 256 * 1024 * 1024)]
    public int MaxBodyBytes { get; set; } = 8 * 1024 * 1024;

    /// <summary>Longest exposition line; longer ones are invalid and skipped.</summary>
    [Range(256, 16 * 1024 * 1024)]
    public int MaxLineBytes { get; set; } = 64 * 1024;

    /// <summary>The scoring policy by name (<see cref="IHealthScoringPolicy.Name"/>).</summary>
    [Required]
    public string ScoringPolicy { get; set; } = DefaultScoringPolicy.PolicyName;

    /// <summary>Publish every round's entries through the fleet state (Redis, with its TTL) for every gateway replica.</summary>
    public bool PublishToFleetState { get; set; } = true;
}

/// <summary>Cross-field rules of <see cref="HealthScorerOptions"/>, every error reported at once.</summary>
internal sealed class HealthScorerOptionsValidator : IValidateOptions<HealthScorerOptions>
{
    public ValidateOptionsResult Validate(string? name, HealthScorerOptions options)
    {
        var errors = new List<string>();
        var section = HealthScorerOptions.SectionName;
        if (options.PressureCloseThreshold >= options.PressureOpenThreshold)
        {
            errors.Add($"{section}:PressureCloseThreshold ({options.PressureCloseThreshold}) must be below PressureOpenThreshold ({options.PressureOpenThreshold}).");
        }

        if (options.ScrapeTimeout > options.ScrapeInterval * 10)
        {
            errors.Add($"{section}:ScrapeTimeout ({options.ScrapeTimeout}) must be at most ten ScrapeIntervals ({options.ScrapeInterval}).");
        }

        if (options.Window < options.ScrapeInterval * 2)
        {
            errors.Add($"{section}:Window ({options.Window}) must hold at least two ScrapeIntervals ({options.ScrapeInterval}).");
        }

        if (options.StaleAfter < options.ScrapeInterval)
        {
            errors.Add($"{section}:StaleAfter ({options.StaleAfter}) must be at least one ScrapeInterval ({options.ScrapeInterval}).");
        }

        if (options.StallAfter < options.ScrapeInterval)
        {
            errors.Add($"{section}:StallAfter ({options.StallAfter}) must be at least one ScrapeInterval ({options.ScrapeInterval}).");
        }

        if (options.MaxLineBytes > options.MaxBodyBytes)
        {
            errors.Add($"{section}:MaxLineBytes ({options.MaxLineBytes}) must not exceed MaxBodyBytes ({options.MaxBodyBytes}).");
        }

        return errors.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(errors);
    }
}
