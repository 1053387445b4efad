using System.ComponentModel.DataAnnotations;
using Microsoft.Extensions.Options;

namespace Platform.Watchdog.Leadership;

/// <summary>The leader lease (section <c>Watchdog:Lease</c>).</summary>
internal sealed class LeaseOptions
{
    public const string SectionName = "Watchdog:Lease";

    /// <summary>How long a lease lives without renewal: a dead leader is replaced after at most this.</summary>
    [Range(typeof(TimeSpan), "00:00:01", "00:10:00")]
    public TimeSpan Ttl { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>How often the leader renews (and a follower tries to take over).</summary>
    [Range(typeof(TimeSpan), "00:00:00.050", "00:05:00")]
    public TimeSpan RenewInterval { get; set; } = TimeSpan.FromSeconds(2);

    /// <summary>This replica's name in the lease; default host-pid.</summary>
    public string? ReplicaId { get; set; }
}

internal sealed class LeaseOptionsValidator : IValidateOptions<LeaseOptions>
{
    public ValidateOptionsResult Validate(string? name, LeaseOptions options) =>
        options.RenewInterval * 3 > options.Ttl
            ? ValidateOptionsResult.Fail($"{LeaseOptions.SectionName}:RenewInterval ({options.RenewInterval}) must be at most a third of Ttl ({options.Ttl}), so a renewal can fail twice before the lease is lost.")
            : ValidateOptionsResult.Success;
}
