using Platform.Fleet.Catalog;
using Platform.Fleet.State;

namespace Platform.HealthScorer.Scoring;

/// <summary>Which generation of vLLM's metric names an engine serves.</summary>
internal enum MetricGeneration
{
    Unknown,

    /// <summary>vllm:kv_cache_usage_perc, vllm:prefix_cache_*.</summary>
    V1,

    /// <summary>vllm:gpu_cache_usage_perc, vllm:gpu_prefix_cache_*.</summary>
    V0,
}

/// <summary>
/// Everything known about one engine after a scrape: immutable, replaced whole, so readers (snapshots, metrics, the
/// fleet publisher) never lock. Rates and quantiles are over the sliding window; NaN means "not known" (no data in
/// the window, or the series is missing), never zero.
/// </summary>
internal sealed record EngineStatus
{
    public required EngineInfo Engine { get; init; }

    public double Score { get; init; }

    public PressureState Pressure { get; init; }

    /// <summary>The last scrapes succeeded (fewer failures in a row than the threshold) and the last success is fresh.</summary>
    public bool Reachable { get; init; }

    public bool Stalled { get; init; }

    /// <summary>Last successful scrape; null before the first.</summary>
    public DateTimeOffset? ObservedAt { get; init; }

    public double KvCacheUsage { get; init; } = double.NaN;

    public double Running { get; init; } = double.NaN;

    public double Waiting { get; init; } = double.NaN;

    public double PreemptionsPerSecond { get; init; } = double.NaN;

    public double TtftP50Seconds { get; init; } = double.NaN;

    public double TtftP95Seconds { get; init; } = double.NaN;

    public double ItlP50Seconds { get; init; } = double.NaN;

    public double ItlP95Seconds { get; init; } = double.NaN;

    public double PrefixCacheHitRate { get; init; } = double.NaN;

    public double SpecAcceptanceRate { get; init; } = double.NaN;

    public double SpecMeanAcceptanceLength { get; init; } = double.NaN;

    /// <summary>Draft tokens proposed over the window (counter delta); the pool's acceptance sums these, never rates.</summary>
    public double SpecDraftTokens { get; init; } = double.NaN;

    /// <summary>Draft tokens accepted over the window (counter delta).</summary>
    public double SpecAcceptedTokens { get; init; } = double.NaN;

    /// <summary>Drafts (sequence-steps that proposed tokens) over the window; V0 engines: draft tokens / k of the catalog.</summary>
    public double SpecDrafts { get; init; } = double.NaN;

    public double GenerationTokensPerSecond { get; init; } = double.NaN;

    public int ConsecutiveScrapeErrors { get; init; }

    /// <summary>Empty when the last scrape succeeded cleanly.</summary>
    public string LastScrapeError { get; init; } = string.Empty;

    public MetricGeneration Generation { get; init; }

    /// <summary>Expected series missing from the last successful scrape (operator names, e.g. vllm:kv_cache_usage_perc).</summary>
    public IReadOnlyList<string> MissingSeries { get; init; } = [];

    /// <summary>From /version; empty until read.</summary>
    public string EngineVersion { get; init; } = string.Empty;

    /// <summary>What routing should do: reachable and making progress.</summary>
    public bool Healthy => Reachable && !Stalled;
}
