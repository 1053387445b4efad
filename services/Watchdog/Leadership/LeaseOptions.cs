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

    /// <summary>
    /// The URL other replicas reach this one's gRPC endpoint at, published with the lease while it leads (followers
    /// forward operator actions there); e.g. <c>http://$(POD_IP):18205</c>. Default: <c>Kestrel:Endpoints:grpc:Url</c>
    /// when it names a host, else the address the server bound when it has only one.
    /// </summary>
    public string? GrpcAddress { get; set; }
}

internal sealed class LeaseOptionsValidator : IValidateOptions<LeaseOptions>
{
    public ValidateOptionsResult Validate(string? name, LeaseOptions options)
    {
        var errors = new List<string>();
        if (options.RenewInterval * 3 > options.Ttl)
        {
            errors.Add($"{LeaseOptions.SectionName}:RenewInterval ({options.RenewInterval}) must be at most a third of Ttl ({options.Ttl}), so a renewal can fail twice before the lease is lost.");
        }

        if (!string.IsNullOrWhiteSpace(options.GrpcAddress)
            && !(Uri.TryCreate(options.GrpcAddress, UriKind.Absolute, out var uri) && uri.Scheme is "http" or "https" && !string.IsNullOrEmpty(uri.Host) && uri.Port > 0))
        {
            errors.Add($"{LeaseOptions.SectionName}:GrpcAddress must be an absolute http or https URL with a host and a port (got '{options.GrpcAddress}').");
        }

        if (options.ReplicaId is { } id && (id.Length == 0 || id.Any(char.IsWhiteSpace) || id.Length > 253))
        {
            errors.Add($"{LeaseOptions.SectionName}:ReplicaId must be 1-253 characters without white space.");
        }

        return errors.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(errors);
    }
}
