using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Platform.Classifier.V1;
using Platform.Fleet.Catalog;
using Platform.Fleet.State;
using Platform.Gateway.Pipeline;
using System.Text.Json.Nodes;

namespace Platform.Gateway.Tests.Fixtures.Engines;

/// <summary>
/// Real EngineSim processes behind the engine side built through DI, with the real Redis-backed fleet state on a
/// real redis-server. Round-robin routing by default so a test knows which engine goes first.
/// </summary>
internal sealed class EngineFleet : IAsyncDisposable
{
    private EngineFleet(RedisServer redis, EngineSim[] engines, IHost host, FakeCatalog catalog)
    {
        Redis = redis;
        Engines = engines;
        Host = host;
        Catalog = catalog;
    }

    public RedisServer Redis { get; }

    public EngineSim[] Engines { get; }

    public IHost Host { get; }

    public FakeCatalog Catalog { get; }

    public IGenerationPipeline Pipeline => Host.Services.GetRequiredService<IGenerationPipeline>();

    public IFleetState State => Host.Services.GetRequiredService<IFleetState>();

    public string Id(int engine) => Catalog.Engines[engine].Id;

    public static async Task<EngineFleet> StartAsync(string[][] engineArgs, IDictionary<string, string?>? settings = null)
    {
        var redisTask = RedisServer.StartAsync();
        var engineTasks = engineArgs.Select(a => EngineSim.StartAsync(a)).ToArray();
        var redis = await redisTask;
        var engines = await Task.WhenAll(engineTasks);
        var catalog = new FakeCatalog(
        [
            new ModelInfo(EngineSim.Model, null, 32768,
            [
                new PoolInfo("general", EngineSim.Model, TaskAffinity.General, 32768, null,
                    engines.Select((e, i) => FakeCatalog.Engine($"general-{i}", "general", EngineSim.Model, e.BaseUri)).ToArray()),
            ]),
        ]);
        var all = new Dictionary<string, string?>
        {
            ["ConnectionStrings:redis"] = redis.ConnectionString,
            ["Fleet:State:KeyPrefix"] = $"test{Guid.NewGuid():N}:",
            ["Fleet:State:ConsecutiveFailures"] = "2",
            ["Fleet:State:CoolDown"] = "00:00:00.300",
            ["Fleet:State:MaxCoolDown"] = "00:00:01",
            ["Gateway:Routing:Policy"] = "round-robin",
            ["Gateway:Routing:PrefixAffinity"] = "false",
            ["Gateway:Health:ScrapeInterval"] = "00:00:00.100",
            ["Gateway:Breakers:ProbeInterval"] = "00:00:00.100",
            ["Gateway:Retries:BaseDelay"] = "00:00:00.005",
            ["Gateway:Retries:MaxDelay"] = "00:00:00.020",
        };
        foreach (var (k, v) in settings ?? new Dictionary<string, string?>())
        {
            all[k] = v;
        }

        var host = EngineSideHost.Build(catalog, state: null, s => s.AddFleetState(), all);
        await host.StartAsync(TestContext.Current.CancellationToken);
        return new EngineFleet(redis, engines, host, catalog);
    }

    public static GenerationRequest Chat(int maxTokens, string user = "Tell me about the sea.") => new()
    {
        Id = $"chatcmpl-{Guid.NewGuid():N}",
        Api = GenerationApi.ChatCompletions,
        Model = EngineSim.Model,
        Messages = [new ChatTurn("user", user)],
        Body = new JsonObject
        {
            ["model"] = EngineSim.Model,
            ["messages"] = new JsonArray(new JsonObject { ["role"] = "user", ["content"] = user }),
            ["max_tokens"] = maxTokens,
            ["ignore_eos"] = true,
        },
        MaxTokens = maxTokens,
        KindHint = TaskKind.General,
        Tenant = "test",
        Frontend = "http",
    };

    public async Task<List<GenerationEvent>> RunAsync(GenerationRequest request, CancellationToken cancellationToken = default)
    {
        var events = new List<GenerationEvent>();
        await foreach (var e in Pipeline.RunAsync(request, cancellationToken))
        {
            events.Add(e);
        }

        return events;
    }

    public async ValueTask DisposeAsync()
    {
        await Host.StopAsync(CancellationToken.None);
        Host.Dispose();
        foreach (var e in Engines)
        {
            await e.DisposeAsync();
        }

        await Redis.DisposeAsync();
    }
}
