using System.ComponentModel.DataAnnotations;
using Microsoft.Extensions.Options;

namespace Platform.Watchdog.Detection;

/// <summary>Dead: unreachable or /health failing (section <c>Watchdog:Detectors:Dead</c>).</summary>
internal sealed class DeadDetectorOptions
{
    public const string SectionName = "Watchdog:Detectors:Dead";

    public bool Enabled { get; set; } = true;

    /// <summary>Consecutive failed HealthScorer checks (scrape or /health) that make an engine dead.</summary>
    [Range(1, 1000)]
    public int FailedChecks { get; set; } = 3;

    /// <summary>
    /// ...and failing for at least this long: the orchestrator restarts a crashed process itself (the AppHost within
    /// 0.5-30 s of back-off, the kubelet, docker's restart policy), and the watchdog restarting it too would only cut
    /// that restart short. The watchdog acts when the orchestrator's own restart did not bring the engine back.
    /// </summary>
    [Range(typeof(TimeSpan), "00:00:00", "01:00:00")]
    public TimeSpan GracePeriod { get; set; } = TimeSpan.FromSeconds(45);
}

/// <summary>Hung: accepts requests, makes no progress (section <c>Watchdog:Detectors:Hung</c>).</summary>
internal sealed class HungDetectorOptions
{
    public const string SectionName = "Watchdog:Detectors:Hung";

    public bool Enabled { get; set; } = true;

    /// <summary>How long the HealthScorer must have called the engine stalled (it already waits its StallAfter, 5 s).</summary>
    [Range(typeof(TimeSpan), "00:00:00", "01:00:00")]
    public TimeSpan StalledFor { get; set; } = TimeSpan.Zero;

    /// <summary>Timeout of the deep probe (a 1-token generation) that confirms the hang.</summary>
    [Range(typeof(TimeSpan), "00:00:00.100", "00:05:00")]
    public TimeSpan ProbeTimeout { get; set; } = TimeSpan.FromSeconds(5);
}

/// <summary>KV-cache drift, the "phantom OOM" (section <c>Watchdog:Detectors:KvDrift</c>).</summary>
internal sealed class KvDriftDetectorOptions
{
    public const string SectionName = "Watchdog:Detectors:KvDrift";

    public bool Enabled { get; set; } = true;

    /// <summary>The window every rule is judged over.</summary>
    [Range(typeof(TimeSpan), "00:00:01", "06:00:00")]
    public TimeSpan Window { get; set; } = TimeSpan.FromSeconds(60);

    /// <summary>Shrinking capacity: KV usage rose at least this much over the window while running requests did not.</summary>
    [Range(0.01, 1.0)]
    public double MinRise { get; set; } = 0.25;

    /// <summary>Leaked capacity: KV usage at least this high at every observation while nothing ran or waited.</summary>
    [Range(0.01, 1.0)]
    public double IdleUsage { get; set; } = 0.3;

    /// <summary>High usage with falling throughput: KV usage at least this high at every observation...</summary>
    [Range(0.01, 1.0)]
    public double HighUsage { get; set; } = 0.9;

    /// <summary>...and generated tokens/s fell by at least this fraction from the window's best, with requests waiting.</summary>
    [Range(0.01, 1.0)]
    public double ThroughputDrop { get; set; } = 0.5;
}

/// <summary>Sustained latency degradation (section <c>Watchdog:Detectors:Latency</c>).</summary>
internal sealed class LatencyDetectorOptions
{
    public const string SectionName = "Watchdog:Detectors:Latency";

    public bool Enabled { get; set; } = true;

    /// <summary>Time-to-first-token p95 budget.</summary>
    [Range(typeof(TimeSpan), "00:00:00.001", "00:10:00")]
    public TimeSpan TtftP95Budget { get; set; } = TimeSpan.FromSeconds(2);

    /// <summary>How long every observation must be over budget (an observation without a TTFT breaks the run).</summary>
    [Range(typeof(TimeSpan), "00:00:01", "06:00:00")]
    public TimeSpan SustainFor { get; set; } = TimeSpan.FromSeconds(120);
}

/// <summary>Cross-field rules of the KV drift options.</summary>
internal sealed class KvDriftDetectorOptionsValidator : IValidateOptions<KvDriftDetectorOptions>
{
    public ValidateOptionsResult Validate(string? name, KvDriftDetectorOptions options) =>
        options.IdleUsage > options.HighUsage
            ? ValidateOptionsResult.Fail($"{KvDriftDetectorOptions.SectionName}:IdleUsage ({options.IdleUsage}) must not exceed HighUsage ({options.HighUsage}).")
            : ValidateOptionsResult.Success;
}
