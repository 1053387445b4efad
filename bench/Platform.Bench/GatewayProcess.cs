using System.Globalization;

namespace Platform.Bench;

/// <summary>One pool of engines as the gateway's catalog lists it.</summary>
internal sealed record BenchPool(
    string Name, string Model, string Affinity, IReadOnlyList<BenchProcess> Engines, int MaxModelLen = 32768, BenchSpeculative? Speculative = null);

/// <summary>A pool's speculative decoding as the catalog lists it (<c>Fleet:Pools:{j}:Speculative</c>).</summary>
internal sealed record BenchSpeculative(string DraftModel, string DraftKind, int NumSpeculativeTokens);

/// <summary>
/// Starts the gateway as its own process with exactly the configuration the AppHost gives it (the Fleet catalog,
/// ConnectionStrings__redis, Kestrel endpoints), plus benchmark-specific settings. <c>onOutput</c> receives its
/// console lines (its logs).
/// </summary>
internal static class GatewayProcess
{
    public const string ApiKey = "sk-bench-0123456789";

    public static Task<BenchProcess> StartAsync(
        string name,
        BenchProcess redis,
        IReadOnlyList<BenchPool> pools,
        IDictionary<string, string> settings,
        CancellationToken ct,
        string? cpus = null,
        Action<string>? onOutput = null)
    {
        var http = BenchProcess.FreePort();
        var grpc = BenchProcess.FreePort();
        var env = new Dictionary<string, string>
        {
            ["ASPNETCORE_ENVIRONMENT"] = "Development",
            ["Logging__LogLevel__Default"] = "Warning",
            ["Kestrel__Endpoints__http__Url"] = $"http://127.0.0.1:{http}",
            ["Kestrel__Endpoints__grpc__Url"] = $"http://127.0.0.1:{grpc}",
            ["ConnectionStrings__redis"] = $"{redis.BaseUri.Host}:{redis.BaseUri.Port}",
            ["Gateway__DevelopmentKey"] = ApiKey,
            ["OTEL_SERVICE_NAME"] = name,
        };

        foreach (var (key, value) in CatalogEnvironment(pools))
        {
            env[key] = value;
        }

        foreach (var (key, value) in settings)
        {
            env[key] = value;
        }

        // With cpus the gateway runs on those cores only (taskset), as it would on its own node in production.
        var dll = BenchProcess.BuildOutput("GatewayOutput");
        return cpus is null
            ? BenchProcess.StartAsync(name, "dotnet", [dll], env, new Uri($"http://127.0.0.1:{http}"), "/health", ct, onOutput)
            : BenchProcess.StartAsync(name, "taskset", ["-c", cpus, "dotnet", dll], env, new Uri($"http://127.0.0.1:{http}"), "/health", ct, onOutput);
    }

    /// <summary>The Fleet catalog as environment variables, in the shape the AppHost writes (every service reads it).</summary>
    public static Dictionary<string, string> CatalogEnvironment(IReadOnlyList<BenchPool> pools)
    {
        var env = new Dictionary<string, string>(StringComparer.Ordinal);
        var models = pools.Select(p => p.Model).Distinct().ToList();
        for (var i = 0; i < models.Count; i++)
        {
            env[$"Fleet__Models__{i}__Name"] = models[i];
        }

        for (var j = 0; j < pools.Count; j++)
        {
            var pool = pools[j];
            var prefix = $"Fleet__Pools__{j}__";
            env[prefix + "Name"] = pool.Name;
            env[prefix + "Model"] = pool.Model;
            env[prefix + "TaskAffinity"] = pool.Affinity;
            env[prefix + "MaxModelLen"] = pool.MaxModelLen.ToString(CultureInfo.InvariantCulture);
            env[prefix + "Replicas"] = pool.Engines.Count.ToString(CultureInfo.InvariantCulture);
            if (pool.Speculative is { } spec)
            {
                env[prefix + "Speculative__Method"] = "draft_model";
                env[prefix + "Speculative__DraftModel"] = spec.DraftModel;
                env[prefix + "Speculative__DraftKind"] = spec.DraftKind;
                env[prefix + "Speculative__NumSpeculativeTokens"] = spec.NumSpeculativeTokens.ToString(CultureInfo.InvariantCulture);
            }

            for (var k = 0; k < pool.Engines.Count; k++)
            {
                env[$"{prefix}Engines__{k}__Id"] = $"{pool.Name}-{k}";
                env[$"{prefix}Engines__{k}__Url"] = pool.Engines[k].BaseUri.ToString().TrimEnd('/');
            }
        }

        return env;
    }
}
