using Platform.AppHost.Hosting;
using Platform.AppHost.Launch;
using Platform.AppHost.Options;

namespace Platform.AppHost.Tests.Support;

/// <summary>Builds declarations and topologies with known ports, without touching the network.</summary>
internal static class TestTopology
{
    /// <summary>A builder with default options (no appsettings.json, no command line).</summary>
    public static PlatformApplicationBuilder Builder(params string[] args) =>
        PlatformApplication.CreateBuilder(args, TextWriter.Null, baseDirectory: Path.GetTempPath());

    /// <summary>Every replica's endpoints get consecutive ports from <paramref name="firstPort"/>, in declaration order.</summary>
    public static Topology Plan(PlatformApplicationBuilder builder, int firstPort = 20000, int controlPort = 19999)
    {
        var port = firstPort;
        var replicas = new List<ReplicaPlan>();
        foreach (var resource in builder.Resources)
        {
            for (var i = 0; i < resource.Replicas; i++)
            {
                var endpoints = resource.Endpoints.Select(e => new ReplicaEndpoint(e.Name, e.Scheme, Topology.Host, port++)).ToList();
                replicas.Add(new ReplicaPlan(resource, i, replicas.Count, endpoints));
            }
        }

        return new Topology(builder.Resources, replicas, controlPort);
    }

    /// <summary>The platform's own wiring (AppHost/Program.cs), for tests of what it produces.</summary>
    public static PlatformApplicationBuilder Platform(params string[] args)
    {
        var builder = Builder(args);
        builder.AddRedis("redis");
        var fallback = builder.AddEnginePool("enginefallback", "phi-3-mini-4k-instruct").WithMaxModelLen(4096);
        builder.AddEnginePool("enginegeneral", "llama-3.1-8b-instruct", replicas: 2)
            .WithTaskAffinity(TaskAffinity.General)
            .WithDraftModel("llama-3.2-1b-instruct", DraftKind.General, 4)
            .WithFallback(fallback);
        builder.AddEnginePool("enginecode", "llama-3.1-8b-instruct")
            .WithTaskAffinity(TaskAffinity.Code)
            .WithDraftModel("llama-3.2-1b-code", DraftKind.Code, 5)
            .WithFallback(fallback);
        return builder;
    }

    public static AppHostOptions Options(Action<AppHostOptions>? configure = null)
    {
        var options = new AppHostOptions();
        configure?.Invoke(options);
        return options;
    }
}
