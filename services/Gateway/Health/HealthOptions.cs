using System.ComponentModel.DataAnnotations;
using Microsoft.Extensions.Options;

namespace Platform.Gateway.Health;

/// <summary>The engine health view (section Gateway:Health).</summary>
internal sealed class HealthOptions
{
    public const string SectionName = "Gateway:Health";

    /// <summary>How often the gateway's own scraper reads every engine's /metrics (when the HealthScorer stream is not live).</summary>
    [Range(typeof(TimeSpan), "00:00:00.050", "00:10:00")]
    public TimeSpan ScrapeInterval { get; set; } = TimeSpan.FromSeconds(1);

    /// <summary>Timeout of one scrape.</summary>
    [Range(typeof(TimeSpan), "00:00:00.010", "00:01:00")]
    public TimeSpan ScrapeTimeout { get; set; } = TimeSpan.FromSeconds(1);

    /// <summary>Consecutive failed scrapes after which an engine is unreachable (not routable).</summary>
    [Range(1, 100)]
    public int UnreachableAfterFailures { get; set; } = 2;

    /// <summary>KV-cache usage above which an engine goes under pressure.</summary>
    [Range(0.0, 1.0)]
    public double PressureOpenThreshold { get; set; } = 0.88;

    /// <summary>KV-cache usage below which an engine under pressure returns to normal (hysteresis).</summary>
    [Range(0.0, 1.0)]
    public double PressureCloseThreshold { get; set; } = 0.79;

    /// <summary>An entry older than this is not used (the fleet state's entry, or none, is used instead).</summary>
    [Range(typeof(TimeSpan), "00:00:00.100", "01:00:00")]
    public TimeSpan StaleAfter { get; set; } = TimeSpan.FromSeconds(5);

    /// <summary>The HealthScorer's gRPC address; empty: configuration services:healthscorer:grpc:0; absent: own scraping only.</summary>
    public string? HealthScorerAddress { get; set; }

    /// <summary>The HealthScorer stream counts as live while its last snapshot is younger than this.</summary>
    [Range(typeof(TimeSpan), "00:00:00.100", "00:10:00")]
    public TimeSpan HealthScorerStaleAfter { get; set; } = TimeSpan.FromSeconds(3);
}

/// <summary>Cross-field rules of <see cref="HealthOptions"/>, every error reported at once.</summary>
internal sealed class HealthOptionsValidator : IValidateOptions<HealthOptions>
{
    public ValidateOptionsResult Validate(string? name, HealthOptions options)
    {
        var errors = new List<string>();
        if (options.PressureCloseThreshold >= options.PressureOpenThreshold)
        {
            errors.Add($"{HealthOptions.SectionName}:PressureCloseThreshold ({options.PressureCloseThreshold}) must be below PressureOpenThreshold ({options.PressureOpenThreshold}).");
        }

        if (options.ScrapeTimeout > options.ScrapeInterval * 10)
        {
            errors.Add($"{HealthOptions.SectionName}:ScrapeTimeout ({options.ScrapeTimeout}) must be at most ten ScrapeIntervals.");
        }

        return errors.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(errors);
    }
}
