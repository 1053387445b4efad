using System.Globalization;
using Platform.AppHost.Options;

namespace Platform.AppHost.Launch;

/// <summary>Which Redis-compatible server runs the <c>redis</c> resource.</summary>
internal enum RedisServerKind
{
    /// <summary><c>redis-server</c> from PATH.</summary>
    RedisServer,

    /// <summary>The <c>garnet-server</c> .NET tool from the repository's tool manifest: needs only the .NET SDK.</summary>
    Garnet,
}

/// <summary>
/// The command line of the Redis resource. redis-server runs as a throw-away cache: no snapshots, no
/// append-only file, its directory a temporary one. Garnet runs through <c>dotnet tool run</c> from the
/// repository root (where <c>.config/dotnet-tools.json</c> pins its version) with Lua scripts enabled, since
/// the fleet state's atomic transitions are Lua.
/// </summary>
internal static class RedisCommandLine
{
    public const string ToolManifest = ".config/dotnet-tools.json";

    public static RedisServerKind Choose(string setting, Func<string, string?> findOnPath) => setting switch
    {
        "redis-server" => RedisServerKind.RedisServer,
        "garnet" => RedisServerKind.Garnet,
        _ => findOnPath("redis-server") is null ? RedisServerKind.Garnet : RedisServerKind.RedisServer,
    };

    public static ProcessSpec Build(
        RedisServerKind kind, ReplicaPlan replica, Topology topology, AppHostOptions options, string dotnetHost,
        string repositoryRoot, string dataDirectory)
    {
        var port = replica.Endpoint(Hosting.RedisResource.EndpointName)!.Port.ToString(CultureInfo.InvariantCulture);
        var env = EnvironmentContract.For(replica, topology, options);
        if (kind == RedisServerKind.RedisServer)
        {
            List<string> args = ["--port", port, "--bind", Topology.Host, "--save", "", "--appendonly", "no", "--dir", dataDirectory];
            args.AddRange(replica.Resource.Arguments);
            return new ProcessSpec("redis-server", args, env, dataDirectory);
        }

        // The tool may target an older runtime than the one installed: roll forward to the newest major.
        env["DOTNET_ROLL_FORWARD"] = "Major";
        List<string> garnet = ["tool", "run", "garnet-server", "--", "--port", port, "--bind", Topology.Host,
            "--lua", "-q", "--memory", "256m", "--index", "16m", "--logger-level", "Warning"];
        garnet.AddRange(replica.Resource.Arguments);
        return new ProcessSpec(dotnetHost, garnet, env, repositoryRoot);
    }

    /// <summary><c>dotnet tool restore</c> in the repository root: installs garnet-server at the pinned version.</summary>
    public static ProcessSpec ToolRestore(string dotnetHost, string repositoryRoot) =>
        new(dotnetHost, ["tool", "restore"], new Dictionary<string, string>(StringComparer.Ordinal), repositoryRoot);

    /// <summary>The full path of <paramref name="executable"/> on PATH, or null.</summary>
    public static string? FindOnPath(string executable)
    {
        var path = Environment.GetEnvironmentVariable("PATH");
        if (string.IsNullOrEmpty(path))
        {
            return null;
        }

        foreach (var directory in path.Split(Path.PathSeparator, StringSplitOptions.RemoveEmptyEntries))
        {
            var candidate = Path.Combine(directory, executable);
            if (File.Exists(candidate))
            {
                return candidate;
            }
        }

        return null;
    }
}
