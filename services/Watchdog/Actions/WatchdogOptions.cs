using System.ComponentModel.DataAnnotations;
using Microsoft.Extensions.Options;

namespace Platform.Watchdog.Actions;

/// <summary>The health view and the restart procedure (section <c>Watchdog</c>).</summary>
internal sealed class WatchdogOptions
{
    public const string SectionName = "Watchdog";

    /// <summary>The HealthScorer's gRPC address; empty: configuration <c>services:healthscorer:grpc:0</c> (service discovery).</summary>
    public string? HealthScorerAddress { get; set; }

    /// <summary>A health view older than this is not acted on (the watchdog never acts blind).</summary>
    [Range(typeof(TimeSpan), "00:00:00.100", "00:10:00")]
    public TimeSpan StaleViewAfter { get; set; } = TimeSpan.FromSeconds(5);

    /// <summary>How often the detectors run when no snapshot arrives (a snapshot runs them at once).</summary>
    [Range(typeof(TimeSpan), "00:00:00.010", "00:01:00")]
    public TimeSpan EvaluateInterval { get; set; } = TimeSpan.FromSeconds(1);

    /// <summary>The least time between marking an engine draining and restarting it: gateways stop within a second.</summary>
    [Range(typeof(TimeSpan), "00:00:00", "00:01:00")]
    public TimeSpan DrainMinimum { get; set; } = TimeSpan.FromSeconds(1);

    /// <summary>The longest wait for in-flight requests to finish.</summary>
    [Range(typeof(TimeSpan), "00:00:00", "01:00:00")]
    public TimeSpan DrainTimeout { get; set; } = TimeSpan.FromSeconds(60);

    /// <summary>Waiting stops early when in-flight requests generate no token for this long: waiting cannot finish them.</summary>
    [Range(typeof(TimeSpan), "00:00:00.100", "01:00:00")]
    public TimeSpan DrainNoProgressTimeout { get; set; } = TimeSpan.FromSeconds(3);

    /// <summary>The longest the orchestrator may take to restart an engine.</summary>
    [Range(typeof(TimeSpan), "00:00:01", "00:30:00")]
    public TimeSpan RestartTimeout { get; set; } = TimeSpan.FromSeconds(60);

    /// <summary>The longest a restarted engine may take to answer /health and a warm-up generation.</summary>
    [Range(typeof(TimeSpan), "00:00:01", "01:00:00")]
    public TimeSpan RecoveryTimeout { get; set; } = TimeSpan.FromSeconds(180);

    /// <summary>Polling interval while draining and warming.</summary>
    [Range(typeof(TimeSpan), "00:00:00.010", "00:00:30")]
    public TimeSpan PollInterval { get; set; } = TimeSpan.FromMilliseconds(250);

    /// <summary>Timeout of one warm-up generation.</summary>
    [Range(typeof(TimeSpan), "00:00:00.100", "00:05:00")]
    public TimeSpan WarmupTimeout { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>Bearer key of the engines' OpenAI API (vLLM <c>--api-key</c>), for probes; never logged.</summary>
    public string? EngineApiKey { get; set; }
}

/// <summary>Disruption budget per pool, restart budget and back-off per engine (section <c>Watchdog:Budget</c>).</summary>
internal sealed class BudgetOptions
{
    public const string SectionName = "Watchdog:Budget";

    /// <summary>Healthy engines a pool keeps: an action that would leave fewer is deferred.</summary>
    [Range(0, 1000)]
    public int MinHealthyPerPool { get; set; } = 1;

    /// <summary>Engines of one pool the watchdog drains or restarts at once.</summary>
    [Range(1, 1000)]
    public int MaxUnavailablePerPool { get; set; } = 1;

    /// <summary>Restarts of one engine per rolling hour; past it the watchdog escalates instead of restarting.</summary>
    [Range(1, 1000)]
    public int MaxRestartsPerHour { get; set; } = 3;

    /// <summary>Wait after a restart before the next automatic one, doubled per restart in the last hour.</summary>
    [Range(typeof(TimeSpan), "00:00:00", "1.00:00:00")]
    public TimeSpan InitialBackoff { get; set; } = TimeSpan.FromSeconds(30);

    [Range(typeof(TimeSpan), "00:00:00", "1.00:00:00")]
    public TimeSpan MaxBackoff { get; set; } = TimeSpan.FromMinutes(10);

    /// <summary>
    /// Lifetime of an engine's persisted restart state in Redis after its last change (restarts, escalation, who
    /// drained it): at least the budget's hour, so a new leader knows every restart the budget counts.
    /// </summary>
    [Range(typeof(TimeSpan), "01:00:00", "7.00:00:00")]
    public TimeSpan StateTtl { get; set; } = TimeSpan.FromHours(24);
}

/// <summary>Cross-field rules of the watchdog's options, every error reported at once.</summary>
internal sealed class WatchdogOptionsValidator : IValidateOptions<WatchdogOptions>, IValidateOptions<BudgetOptions>
{
    public ValidateOptionsResult Validate(string? name, WatchdogOptions options)
    {
        var errors = new List<string>();
        if (options.DrainMinimum > options.DrainTimeout)
        {
            errors.Add($"{WatchdogOptions.SectionName}:DrainMinimum ({options.DrainMinimum}) must not exceed DrainTimeout ({options.DrainTimeout}).");
        }

        if (options.WarmupTimeout > options.RecoveryTimeout)
        {
            errors.Add($"{WatchdogOptions.SectionName}:WarmupTimeout ({options.WarmupTimeout}) must not exceed RecoveryTimeout ({options.RecoveryTimeout}).");
        }

        if (!string.IsNullOrWhiteSpace(options.HealthScorerAddress) && !Uri.TryCreate(options.HealthScorerAddress, UriKind.Absolute, out _))
        {
            errors.Add($"{WatchdogOptions.SectionName}:HealthScorerAddress must be an absolute URL.");
        }

        return errors.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(errors);
    }

    public ValidateOptionsResult Validate(string? name, BudgetOptions options) =>
        options.MaxBackoff < options.InitialBackoff
            ? ValidateOptionsResult.Fail($"{BudgetOptions.SectionName}:MaxBackoff ({options.MaxBackoff}) must be at least InitialBackoff ({options.InitialBackoff}).")
            : ValidateOptionsResult.Success;
}
