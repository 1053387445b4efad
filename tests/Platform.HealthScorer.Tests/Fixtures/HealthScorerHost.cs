using Grpc.Net.Client;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Platform.HealthScorer.Grpc;
using HealthV1 = Platform.Health.V1;

namespace Platform.HealthScorer.Tests.Fixtures;

/// <summary>
/// The HealthScorer in-process on Kestrel with dynamic ports for its "http" and "grpc" endpoints, wired exactly as
/// Program.cs wires it, configured in the shape the AppHost injects (Fleet catalog through service discovery's
/// services:{pool}:http:{k}, ConnectionStrings:redis, Kestrel endpoint URLs).
/// </summary>
internal sealed class HealthScorerHost : IAsyncDisposable
{
    private readonly WebApplication _app;
    private readonly GrpcChannel _channel;

    private HealthScorerHost(WebApplication app, Uri http, Uri grpc)
    {
        _app = app;
        HttpUri = http;
        GrpcUri = grpc;
        _channel = GrpcChannel.ForAddress(grpc);
        Client = new HealthV1.HealthScorer.HealthScorerClient(_channel);
    }

    public Uri HttpUri { get; }

    public Uri GrpcUri { get; }

    public IServiceProvider Services => _app.Services;

    public HealthV1.HealthScorer.HealthScorerClient Client { get; }

    /// <summary>One pool "enginegeneral" of model "llama" with these engines (ids enginegeneral-{k}), plus <paramref name="settings"/>.</summary>
    public static Dictionary<string, string?> Configuration(IReadOnlyList<Uri> engines, string? redis = null, int speculativeTokens = 0)
    {
        var c = new Dictionary<string, string?>
        {
            ["Kestrel:Endpoints:http:Url"] = "http://127.0.0.1:0",
            ["Kestrel:Endpoints:grpc:Url"] = "http://127.0.0.1:0",
            ["Logging:LogLevel:Default"] = "Warning",
            ["Fleet:Models:0:Name"] = "llama",
            ["Fleet:Pools:0:Name"] = "enginegeneral",
            ["Fleet:Pools:0:Model"] = "llama",
            ["Fleet:Pools:0:TaskAffinity"] = "general",
            ["Fleet:Pools:0:MaxModelLen"] = "32768",
            ["HealthScorer:ScrapeInterval"] = "00:00:00.100",
            ["HealthScorer:ScrapeTimeout"] = "00:00:00.500",
            ["HealthScorer:StaleAfter"] = "00:00:01",
            ["HealthScorer:Window"] = "00:00:05",
            ["HealthScorer:StallAfter"] = "00:00:01",
        };
        if (speculativeTokens > 0)
        {
            c["Fleet:Pools:0:Speculative:Method"] = "draft_model";
            c["Fleet:Pools:0:Speculative:DraftModel"] = "llama-draft";
            c["Fleet:Pools:0:Speculative:DraftKind"] = "general";
            c["Fleet:Pools:0:Speculative:NumSpeculativeTokens"] = speculativeTokens.ToString(System.Globalization.CultureInfo.InvariantCulture);
        }

        for (var k = 0; k < engines.Count; k++)
        {
            c[$"services:enginegeneral:http:{k}"] = engines[k].AbsoluteUri.TrimEnd('/');
        }

        if (redis is not null)
        {
            c["ConnectionStrings:redis"] = redis;
        }

        return c;
    }

    public static async Task<HealthScorerHost> StartAsync(IDictionary<string, string?> configuration, Action<IServiceCollection>? services = null)
    {
        var builder = WebApplication.CreateBuilder(new WebApplicationOptions
        {
            EnvironmentName = "Development",
            ApplicationName = typeof(HealthScorerService).Assembly.GetName().Name,
        });
        builder.Configuration.AddInMemoryCollection(configuration);

        // As Program.cs.
        builder.AddServiceDefaults();
        builder.AddGrpcServiceDefaults();
        builder.AddFleetCatalog();
        builder.AddFleetState();
        builder.AddHealthScorer();
        services?.Invoke(builder.Services);

        var app = builder.Build();
        app.MapDefaultEndpoints();
        app.MapGrpcService<HealthScorerService>();
        app.MapGrpcDefaultEndpoints();
        await app.StartAsync(TestContext.Current.CancellationToken);

        // The addresses feature does not say which endpoint is which: the HTTP/1.1 one answers an HTTP/1.1 request.
        var addresses = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!
            .Addresses.Select(a => new Uri(a)).ToArray();
        Assert.Equal(2, addresses.Length);
        using var probe = new HttpClient();
        using var first = await probe.GetAsync(new Uri(addresses[0], "/alive"), TestContext.Current.CancellationToken);
        return first.IsSuccessStatusCode
            ? new HealthScorerHost(app, addresses[0], addresses[1])
            : new HealthScorerHost(app, addresses[1], addresses[0]);
    }

    /// <summary>GetFleet until <paramref name="condition"/> holds for the engine; returns that engine's health.</summary>
    public async Task<HealthV1.EngineHealth> WaitForEngineAsync(string engineId, Func<HealthV1.EngineHealth, bool> condition, string what, TimeSpan? timeout = null)
    {
        HealthV1.EngineHealth? found = null;
        await Poll.UntilAsync(
            async () =>
            {
                var fleet = await Client.GetFleetAsync(new HealthV1.GetFleetRequest(), cancellationToken: TestContext.Current.CancellationToken);
                found = fleet.Engines.FirstOrDefault(e => e.EngineId == engineId);
                return found is not null && condition(found);
            },
            timeout ?? TimeSpan.FromSeconds(15),
            $"{engineId}: {what}");
        return found!;
    }

    public async ValueTask DisposeAsync()
    {
        _channel.Dispose();
        await _app.StopAsync(CancellationToken.None);
        await _app.DisposeAsync();
    }
}
