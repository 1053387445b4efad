using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.Options;

namespace Platform.Watchdog.Leadership;

/// <summary>The gRPC address this replica publishes with the lease, for followers to forward operator actions to.</summary>
internal interface IAdvertisedGrpcAddress
{
    /// <summary>The address, or null while it is not known (the server has not bound yet, or it binds a wildcard host).</summary>
    string? Value { get; }
}

/// <summary>
/// <c>Watchdog:Lease:GrpcAddress</c> when set; else <c>Kestrel:Endpoints:grpc:Url</c> when it names a host and a port
/// (the AppHost's <c>http://127.0.0.1:18205</c>); else the one address the server bound (a single endpoint on port 0,
/// as in tests). A wildcard host (<c>0.0.0.0</c>, <c>[::]</c>, <c>*</c>, <c>+</c>) says nothing others can dial: in a
/// cluster the pod IP is set explicitly (deploy/watchdog/deployment.yaml).
/// </summary>
internal sealed class KestrelGrpcAddress(IOptions<LeaseOptions> options, IConfiguration configuration, IServer? server = null) : IAdvertisedGrpcAddress
{
    private string? _resolved;

    public string? Value => _resolved ??= Resolve();

    private string? Resolve()
    {
        if (!string.IsNullOrWhiteSpace(options.Value.GrpcAddress))
        {
            return options.Value.GrpcAddress.TrimEnd('/');
        }

        var configured = configuration["Kestrel:Endpoints:grpc:Url"];
        if (Uri.TryCreate(configured, UriKind.Absolute, out var uri) && uri.Port > 0 && !IsWildcard(uri.Host))
        {
            return configured!.TrimEnd('/');
        }

        var bound = server?.Features.Get<IServerAddressesFeature>()?.Addresses;
        if (bound is { Count: 1 } && Uri.TryCreate(bound.First(), UriKind.Absolute, out var only) && only.Port > 0 && !IsWildcard(only.Host))
        {
            return only.GetLeftPart(UriPartial.Authority);
        }

        return null;
    }

    private static bool IsWildcard(string host) => host is "0.0.0.0" or "[::]" or "::" or "*" or "+" or "";
}
