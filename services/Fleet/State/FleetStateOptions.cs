using System.ComponentModel.DataAnnotations;
using Microsoft.Extensions.Options;

namespace Platform.Fleet.State;

/// <summary>Breaker rules, TTLs and Redis behaviour of the shared fleet state (section <c>Fleet:State</c>).</summary>
public sealed class FleetStateOptions
{
    public const string SectionName = "Fleet:State";

    /// <summary>Prefix of every key; the channel is <c>{KeyPrefix}fleet:changes</c>.</summary>
    [Required]
    public string KeyPrefix { get; set; } = "platform:";

    /// <summary>Consecutive failures that open a closed breaker.</summary>
    [Range(1, 10_000)]
    public int ConsecutiveFailures { get; set; } = 5;

    /// <summary>Failure ratio over the sliding window that opens a closed breaker (with at least <see cref="MinimumAttempts"/>).</summary>
    [Range(0.01, 1.0)]
    public double FailureRatio { get; set; } = 0.5;

    [Range(1, 1_000_000)]
    public int MinimumAttempts { get; set; } = 20;

    public TimeSpan FailureWindow { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>First cool-down of an open breaker; doubled on every failed probe up to <see cref="MaxCoolDown"/>.</summary>
    public TimeSpan CoolDown { get; set; } = TimeSpan.FromSeconds(5);

    public TimeSpan MaxCoolDown { get; set; } = TimeSpan.FromSeconds(60);

    /// <summary>How long a probe lease is held when its holder never completes the probe.</summary>
    public TimeSpan ProbeLeaseTtl { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>Lifetime of a health entry: a dead HealthScorer cannot freeze the fleet.</summary>
    public TimeSpan HealthTtl { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>Full reload from Redis, healing missed pub/sub messages.</summary>
    public TimeSpan ReconcileInterval { get; set; } = TimeSpan.FromSeconds(2);

    /// <summary>The longest a caller waits on Redis (wall clock); past it the change is made locally.</summary>
    public TimeSpan RedisTimeout { get; set; } = TimeSpan.FromMilliseconds(250);

    /// <summary>Successes recorded in the background; when full the oldest are dropped (they only reset counts).</summary>
    [Range(16, 1_000_000)]
    public int SuccessQueueCapacity { get; set; } = 4096;

    /// <summary>This replica's name in messages and probe leases; default host-pid-random.</summary>
    public string? ReplicaId { get; set; }
}

internal sealed class FleetStateOptionsValidator : IValidateOptions<FleetStateOptions>
{
    public ValidateOptionsResult Validate(string? name, FleetStateOptions options)
    {
        var errors = new List<string>();
        void Positive(TimeSpan value, string setting)
        {
            if (value <= TimeSpan.Zero)
            {
                errors.Add($"{FleetStateOptions.SectionName}:{setting} must be positive (got {value}).");
            }
        }

        Positive(options.FailureWindow, nameof(options.FailureWindow));
        Positive(options.CoolDown, nameof(options.CoolDown));
        Positive(options.MaxCoolDown, nameof(options.MaxCoolDown));
        Positive(options.ProbeLeaseTtl, nameof(options.ProbeLeaseTtl));
        Positive(options.HealthTtl, nameof(options.HealthTtl));
        Positive(options.ReconcileInterval, nameof(options.ReconcileInterval));
        if (options.MaxCoolDown < options.CoolDown)
        {
            errors.Add($"{FleetStateOptions.SectionName}:MaxCoolDown ({options.MaxCoolDown}) must be at least CoolDown ({options.CoolDown}).");
        }

        if (options.RedisTimeout < TimeSpan.FromMilliseconds(10) || options.RedisTimeout > TimeSpan.FromSeconds(5))
        {
            errors.Add($"{FleetStateOptions.SectionName}:RedisTimeout must be within 10 ms..5 s (got {options.RedisTimeout}).");
        }

        if (options.ReplicaId is { } id && (id.Length == 0 || id.Contains('|', StringComparison.Ordinal)))
        {
            errors.Add($"{FleetStateOptions.SectionName}:ReplicaId cannot be empty or contain '|'.");
        }

        return errors.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(errors);
    }
}
