using System.Globalization;
using Platform.Gateway.Tests.Fixtures.Engines;

namespace Platform.Gateway.Tests.Fixtures.Stack;

/// <summary>
/// The whole request path on real sockets: redis-server, three EngineSim processes (one fallback Phi-3 engine, two
/// speculative Llama engines) and the gateway in-process on Kestrel, configured as the AppHost configures it
/// (<c>Fleet:...</c> catalog, <c>ConnectionStrings:redis</c>, Kestrel endpoint URLs on dynamic ports, keys).
/// </summary>
public sealed class PlatformStack : IAsyncLifetime
{
    internal RedisServer Redis { get; private set; } = null!;

    internal EngineSim Fallback { get; private set; } = null!;

    internal EngineSim[] General { get; private set; } = [];

    internal GatewayHost Gateway { get; private set; } = null!;

    internal IEnumerable<EngineSim> Engines => General.Append(Fallback);

    /// <summary>Gateway settings over the AppHost-shaped ones (<see cref="Configuration"/>), set before it starts.</summary>
    private Action<Dictionary<string, string?>>? _configure;

    /// <summary>A stack outside a fixture, with <paramref name="configure"/> applied to the gateway's configuration.</summary>
    internal static async Task<PlatformStack> StartAsync(Action<Dictionary<string, string?>> configure)
    {
        var stack = new PlatformStack { _configure = configure };
        try
        {
            await stack.InitializeAsync();
            return stack;
        }
        catch
        {
            await stack.DisposeAsync();
            throw;
        }
    }

    public async ValueTask InitializeAsync()
    {
        var redis = RedisServer.StartAsync();
        var fallback = EngineSim.StartAsync("--served-model-name", GatewayHost.FallbackModel, "--max-model-len", "4096", "--sim-engine-label", "enginefallback-0");
        var general = Enumerable.Range(0, 2).Select(i => EngineSim.StartAsync(
            "--served-model-name", GatewayHost.Model, "--max-model-len", "32768", "--sim-engine-label", $"enginegeneral-{i}",
            "--speculative-config", """{"method":"draft_model","model":"llama-3.2-1b-instruct","num_speculative_tokens":4}""")).ToArray();
        Redis = await redis;
        Fallback = await fallback;
        General = await Task.WhenAll(general);
        var configuration = Configuration(Redis, Fallback, General);
        _configure?.Invoke(configuration);
        Gateway = await GatewayHost.StartAsync(configuration);
    }

    public async ValueTask DisposeAsync()
    {
        if (Gateway is not null)
        {
            await Gateway.DisposeAsync();
        }

        foreach (var engine in Engines.Where(e => e is not null))
        {
            await engine.DisposeAsync();
        }

        if (Redis is not null)
        {
            await Redis.DisposeAsync();
        }
    }

    /// <summary>Configuration in the AppHost's shape for these engines (see AppHost/README.md).</summary>
    internal static Dictionary<string, string?> Configuration(RedisServer redis, EngineSim fallback, IReadOnlyList<EngineSim> general)
    {
        var configuration = GatewayHost.DefaultConfiguration();
        foreach (var key in configuration.Keys.Where(k => k.StartsWith("Fleet:", StringComparison.Ordinal)).ToList())
        {
            configuration.Remove(key);
        }

        configuration["ConnectionStrings:redis"] = redis.ConnectionString;
        configuration["Fleet:Models:0:Name"] = GatewayHost.Model;
        configuration["Fleet:Models:0:FallbackModel"] = GatewayHost.FallbackModel;
        configuration["Fleet:Models:1:Name"] = GatewayHost.FallbackModel;
        configuration["Fleet:Pools:0:Name"] = "enginefallback";
        configuration["Fleet:Pools:0:Model"] = GatewayHost.FallbackModel;
        configuration["Fleet:Pools:0:TaskAffinity"] = "none";
        configuration["Fleet:Pools:0:MaxModelLen"] = "4096";
        configuration["Fleet:Pools:0:Replicas"] = "1";
        configuration["services:enginefallback:http:0"] = fallback.BaseUri.ToString().TrimEnd('/');
        configuration["Fleet:Pools:1:Name"] = "enginegeneral";
        configuration["Fleet:Pools:1:Model"] = GatewayHost.Model;
        configuration["Fleet:Pools:1:TaskAffinity"] = "general";
        configuration["Fleet:Pools:1:MaxModelLen"] = "32768";
        configuration["Fleet:Pools:1:Replicas"] = general.Count.ToString(CultureInfo.InvariantCulture);
        configuration["Fleet:Pools:1:Speculative:Method"] = "draft_model";
        configuration["Fleet:Pools:1:Speculative:DraftModel"] = "llama-3.2-1b-instruct";
        configuration["Fleet:Pools:1:Speculative:DraftKind"] = "general";
        configuration["Fleet:Pools:1:Speculative:NumSpeculativeTokens"] = "4";
        for (var i = 0; i < general.Count; i++)
        {
            configuration[$"services:enginegeneral:http:{i}"] = general[i].BaseUri.ToString().TrimEnd('/');
        }

        return configuration;
    }

    internal static Task<GatewayHost> StartGatewayAsync(RedisServer redis, EngineSim fallback, IReadOnlyList<EngineSim> general) =>
        GatewayHost.StartAsync(Configuration(redis, fallback, general));

    /// <summary>Sum of the engines' prompt-token counters: proves whether any request reached an engine.</summary>
    internal async Task<double> PromptTokensAsync()
    {
        using var http = new HttpClient();
        var total = 0.0;
        foreach (var engine in Engines)
        {
            var text = await http.GetStringAsync(new Uri(engine.BaseUri, "metrics"), TestContext.Current.CancellationToken);
            foreach (var line in text.Split('\n'))
            {
                if (line.StartsWith("vllm:prompt_tokens_total", StringComparison.Ordinal))
                {
                    total += double.Parse(line[(line.LastIndexOf(' ') + 1)..], CultureInfo.InvariantCulture);
                }
            }
        }

        return total;
    }
}
