using Platform.AppHost.Options;

namespace Platform.AppHost.Launch;

/// <summary>Everything decided before the first process starts.</summary>
internal sealed record PlatformModel(
    Topology Topology,
    AppHostOptions Options,
    RedisServerKind RedisServer,
    string DotnetHost,
    string EngineSimAssembly,
    string RepositoryRoot);

/// <summary>Finds the <c>dotnet</c> host that runs the AppHost, to start .NET resources with the same runtime.</summary>
internal static class DotnetHost
{
    public static string Resolve()
    {
        var self = Environment.ProcessPath;
        if (self is not null && Path.GetFileNameWithoutExtension(self).Equals("dotnet", StringComparison.OrdinalIgnoreCase))
        {
            return self;
        }

        var fromSdk = Environment.GetEnvironmentVariable("DOTNET_HOST_PATH");
        if (!string.IsNullOrEmpty(fromSdk) && File.Exists(fromSdk))
        {
            return fromSdk;
        }

        var root = Environment.GetEnvironmentVariable("DOTNET_ROOT");
        var exe = OperatingSystem.IsWindows() ? "dotnet.exe" : "dotnet";
        if (!string.IsNullOrEmpty(root) && File.Exists(Path.Combine(root, exe)))
        {
            return Path.Combine(root, exe);
        }

        return "dotnet";
    }
}
