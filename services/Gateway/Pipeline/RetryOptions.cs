using System.ComponentModel.DataAnnotations;
using Microsoft.Extensions.Options;

namespace Platform.Gateway.Pipeline;

/// <summary>Retries before the first token and continuations after it (section Gateway:Retries).</summary>
internal sealed class RetryOptions
{
    public const string SectionName = "Gateway:Retries";

    /// <summary>Engine attempts before the first token, the first included.</summary>
    [Range(1, 10)]
    public int MaxAttempts { get; set; } = 3;

    /// <summary>Back-off before retry k is uniform in [0, min(MaxDelay, BaseDelay × 2^(k-1))] (full jitter).</summary>
    [Range(typeof(TimeSpan), "00:00:00", "00:00:10")]
    public TimeSpan BaseDelay { get; set; } = TimeSpan.FromMilliseconds(25);

    [Range(typeof(TimeSpan), "00:00:00", "00:01:00")]
    public TimeSpan MaxDelay { get; set; } = TimeSpan.FromMilliseconds(500);

    /// <summary>Retries may not exceed this share of requests over the window (a token bucket refilled by requests).</summary>
    [Range(0.0, 1.0)]
    public double BudgetRatio { get; set; } = 0.2;

    [Range(typeof(TimeSpan), "00:00:01", "00:10:00")]
    public TimeSpan BudgetWindow { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>Retries always allowed per second of window on top of the ratio, so a quiet gateway can still retry.</summary>
    [Range(0.0, 1000.0)]
    public double MinRetriesPerSecond { get; set; } = 1;

    /// <summary>Continuations of one generation after the first token.</summary>
    [Range(0, 10)]
    public int MaxContinuations { get; set; } = 2;
}

/// <summary>Cross-field rules of <see cref="RetryOptions"/>.</summary>
internal sealed class RetryOptionsValidator : IValidateOptions<RetryOptions>
{
    public ValidateOptionsResult Validate(string? name, RetryOptions options) =>
        options.BaseDelay > options.MaxDelay
            ? ValidateOptionsResult.Fail($"{RetryOptions.SectionName}:BaseDelay ({options.BaseDelay}) must not exceed MaxDelay ({options.MaxDelay}).")
            : ValidateOptionsResult.Success;
}
