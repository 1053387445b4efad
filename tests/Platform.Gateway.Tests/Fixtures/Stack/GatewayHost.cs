using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Platform.Gateway.Admin;
using Platform.Gateway.Api;
using Platform.Gateway.Grpc;

namespace Platform.Gateway.Tests.Fixtures.Stack;

/// <summary>
/// The gateway in-process on Kestrel with dynamic ports for its "http" and "grpc" endpoints, wired exactly as
/// Program.cs wires it, with configuration given in the shape the AppHost injects (Fleet catalog, keys, Kestrel
/// endpoint URLs). <paramref name="services"/> may replace registrations (a scripted pipeline, a limiter).
/// </summary>
internal sealed class GatewayHost : IAsyncDisposable
{
    public const string Model = "llama-3.1-8b-instruct";
    public const string FallbackModel = "phi-3-mini-4k-instruct";
    public const string Key = "sk-test-key-0123456789";
    public const string LimitedKey = "sk-test-limited-0123";
    public const string PhiOnlyKey = "sk-test-phi-only-0123";

    private readonly WebApplication _app;

    private GatewayHost(WebApplication app, Uri http, Uri grpc)
    {
        _app = app;
        HttpUri = http;
        GrpcUri = grpc;
    }

    public Uri HttpUri { get; }

    public Uri GrpcUri { get; }

    public IServiceProvider Services => _app.Services;

    /// <summary>A catalog like the AppHost's, engines given explicitly (a scripted pipeline never calls them).</summary>
    public static Dictionary<string, string?> DefaultConfiguration() => new()
    {
        ["Kestrel:Endpoints:http:Url"] = "http://127.0.0.1:0",
        ["Kestrel:Endpoints:grpc:Url"] = "http://127.0.0.1:0",
        ["Fleet:Models:0:Name"] = Model,
        ["Fleet:Models:0:FallbackModel"] = FallbackModel,
        ["Fleet:Models:1:Name"] = FallbackModel,
        ["Fleet:Pools:0:Name"] = "enginefallback",
        ["Fleet:Pools:0:Model"] = FallbackModel,
        ["Fleet:Pools:0:TaskAffinity"] = "none",
        ["Fleet:Pools:0:MaxModelLen"] = "4096",
        ["Fleet:Pools:0:Engines:0:Id"] = "enginefallback-0",
        ["Fleet:Pools:0:Engines:0:Url"] = "http://127.0.0.1:1",
        ["Fleet:Pools:1:Name"] = "enginegeneral",
        ["Fleet:Pools:1:Model"] = Model,
        ["Fleet:Pools:1:TaskAffinity"] = "general",
        ["Fleet:Pools:1:MaxModelLen"] = "32768",
        ["Fleet:Pools:1:Speculative:Method"] = "draft_model",
        ["Fleet:Pools:1:Speculative:DraftModel"] = "llama-3.2-1b-instruct",
        ["Fleet:Pools:1:Speculative:DraftKind"] = "general",
        ["Fleet:Pools:1:Speculative:NumSpeculativeTokens"] = "4",
        ["Fleet:Pools:1:Engines:0:Id"] = "enginegeneral-0",
        ["Fleet:Pools:1:Engines:0:Url"] = "http://127.0.0.1:2",
        ["Gateway:Keys:0:Name"] = "tenant-a",
        ["Gateway:Keys:0:Key"] = Key,
        ["Gateway:Keys:0:MaxTokens"] = "1000",
        ["Gateway:Keys:0:TokensPerMinute"] = "1000000",
        ["Gateway:Keys:1:Name"] = "tenant-limited",
        ["Gateway:Keys:1:Key"] = LimitedKey,
        ["Gateway:Keys:1:RequestsPerMinute"] = "2",
        ["Gateway:Keys:2:Name"] = "tenant-phi",
        ["Gateway:Keys:2:Key"] = PhiOnlyKey,
        ["Gateway:Keys:2:AllowedModels:0"] = FallbackModel,
    };

    public static async Task<GatewayHost> StartAsync(
        IDictionary<string, string?>? configuration = null,
        Action<IServiceCollection>? services = null,
        string environment = "Development")
    {
        var builder = WebApplication.CreateBuilder(new WebApplicationOptions
        {
            EnvironmentName = environment,
            ApplicationName = typeof(Program).Assembly.GetName().Name,
        });
        builder.Configuration.AddInMemoryCollection(configuration ?? DefaultConfiguration());
        builder.Configuration["Logging:LogLevel:Default"] = "Warning";

        // As Program.cs.
        builder.AddServiceDefaults();
        builder.AddGrpcServiceDefaults();
        builder.AddFleetCatalog();
        builder.AddFleetState();
        builder.AddFleetRateLimiter();
        builder.AddGatewayFrontEnd();
        builder.AddGatewayEngineSide();
        services?.Invoke(builder.Services);

        var app = builder.Build();
        app.UseOpenAiErrors();
        app.MapDefaultEndpoints();
        app.MapOpenAiApi();
        app.MapAdminApi();
        app.MapGrpcService<InferenceService>();
        app.MapGrpcDefaultEndpoints();
        await app.StartAsync(TestContext.Current.CancellationToken);

        // The addresses feature does not say which endpoint is which: the HTTP/1.1 one answers an HTTP/1.1 request.
        var addresses = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!
            .Addresses.Select(a => new Uri(a)).ToArray();
        Assert.Equal(2, addresses.Length);
        using var probe = new HttpClient();
        using var first = await probe.GetAsync(new Uri(addresses[0], "/alive"), TestContext.Current.CancellationToken);
        return first.IsSuccessStatusCode
            ? new GatewayHost(app, addresses[0], addresses[1])
            : new GatewayHost(app, addresses[1], addresses[0]);
    }

    /// <summary>A gateway whose pipeline and limiter are in-process fakes.</summary>
    public static async Task<(GatewayHost Host, ScriptedPipeline Pipeline, CountingRateLimiter Limiter)> StartScriptedAsync(
        Action<Dictionary<string, string?>>? configure = null)
    {
        var pipeline = new ScriptedPipeline();
        var limiter = new CountingRateLimiter();
        var configuration = DefaultConfiguration();
        configure?.Invoke(configuration);
        var host = await StartAsync(configuration, s =>
        {
            s.AddSingleton<global::Platform.Gateway.Pipeline.IGenerationPipeline>(pipeline);
            s.AddSingleton<global::Platform.Fleet.Limits.IRateLimiter>(limiter);
        });
        return (host, pipeline, limiter);
    }

    public HttpClient CreateHttpClient(string? key = Key)
    {
        var client = new HttpClient { BaseAddress = HttpUri };
        if (key is not null)
        {
            client.DefaultRequestHeaders.Authorization = new System.Net.Http.Headers.AuthenticationHeaderValue("Bearer", key);
        }

        return client;
    }

    public async ValueTask DisposeAsync()
    {
        await _app.StopAsync(CancellationToken.None);
        await _app.DisposeAsync();
    }
}
