using System.ComponentModel.DataAnnotations;
using Microsoft.Extensions.Options;

namespace Platform.Watchdog.Probing;

/// <summary>
/// The idle probe (section <c>Watchdog:IdleProbe</c>): the HealthScorer's stall rule needs running requests, so an
/// engine that hangs while nothing runs (and whose /health still answers) looks healthy until traffic arrives and
/// stalls on it. An engine that generated no token for <see cref="IdleFor"/> gets a deep probe (a 1-token generation
/// within <see cref="ProbeTimeout"/>) at most every <see cref="Interval"/>; a failed one is retried after
/// <see cref="RetryInterval"/>, and <see cref="FailedProbes"/> failures in a row are a hang (source <c>idle_probe</c>).
/// </summary>
internal sealed class IdleProbeOptions
{
    public const string SectionName = "Watchdog:IdleProbe";

    public bool Enabled { get; set; } = true;

    /// <summary>No generated token (HealthScorer tokens/s 0 or unknown) at every observation for this long: idle.</summary>
    [Range(typeof(TimeSpan), "00:00:01", "06:00:00")]
    public TimeSpan IdleFor { get; set; } = TimeSpan.FromSeconds(60);

    /// <summary>The least time between two idle probes of one engine while they answer.</summary>
    [Range(typeof(TimeSpan), "00:00:01", "06:00:00")]
    public TimeSpan Interval { get; set; } = TimeSpan.FromSeconds(60);

    /// <summary>The time before the next probe after a failed one.</summary>
    [Range(typeof(TimeSpan), "00:00:00.100", "01:00:00")]
    public TimeSpan RetryInterval { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>Timeout of one idle probe.</summary>
    [Range(typeof(TimeSpan), "00:00:00.100", "00:05:00")]
    public TimeSpan ProbeTimeout { get; set; } = TimeSpan.FromSeconds(5);

    /// <summary>Idle probes failed in a row that make a hang (one timeout may be a blip).</summary>
    [Range(1, 10)]
    public int FailedProbes { get; set; } = 2;

    /// <summary>Idle probes running at once over the whole fleet, so a large idle fleet is probed a few at a time.</summary>
    [Range(1, 1000)]
    public int MaxConcurrentProbes { get; set; } = 2;
}

/// <summary>Cross-field rules of the idle probe, every error at once.</summary>
internal sealed class IdleProbeOptionsValidator : IValidateOptions<IdleProbeOptions>
{
    public ValidateOptionsResult Validate(string? name, IdleProbeOptions options)
    {
        var errors = new List<string>();
        if (options.Interval < options.ProbeTimeout)
        {
            errors.Add($"{IdleProbeOptions.SectionName}:Interval ({options.Interval}) must be at least ProbeTimeout ({options.ProbeTimeout}).");
        }

        if (options.RetryInterval < options.ProbeTimeout)
        {
            errors.Add($"{IdleProbeOptions.SectionName}:RetryInterval ({options.RetryInterval}) must be at least ProbeTimeout ({options.ProbeTimeout}).");
        }

        if (options.RetryInterval > options.Interval)
        {
            errors.Add($"{IdleProbeOptions.SectionName}:RetryInterval ({options.RetryInterval}) must not exceed Interval ({options.Interval}).");
        }

        return errors.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(errors);
    }
}
