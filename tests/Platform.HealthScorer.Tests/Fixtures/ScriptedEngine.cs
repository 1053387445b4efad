using System.Net;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace Platform.HealthScorer.Tests.Fixtures;

/// <summary>
/// A Kestrel server on a dynamic loopback port that plays an engine: /metrics, /health and /version answer what the
/// test says (a handler per path; the defaults are a healthy vLLM 0.11 engine serving the given body).
/// </summary>
internal sealed class ScriptedEngine : IAsyncDisposable
{
    private readonly WebApplication _app;

    private ScriptedEngine(WebApplication app, Uri baseUri)
    {
        _app = app;
        BaseUri = baseUri;
    }

    public Uri BaseUri { get; }

    /// <summary>Replaces the /metrics answer.</summary>
    public RequestDelegate Metrics { get; set; } = static c => c.Response.WriteAsync(string.Empty);

    public RequestDelegate Health { get; set; } = static _ => Task.CompletedTask;

    public RequestDelegate Version { get; set; } = static c => c.Response.WriteAsync("{\"version\":\"0.11.0\"}");

    public static RequestDelegate Body(byte[] body) => c =>
    {
        c.Response.ContentType = "text/plain; version=0.0.4; charset=utf-8";
        return c.Response.Body.WriteAsync(body).AsTask();
    };

    public static async Task<ScriptedEngine> StartAsync(byte[]? metrics = null)
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();

        // The HealthScorer's appsettings.json is copied next to the tests; its Kestrel endpoints are not ours.
        builder.Configuration.Sources.Clear();
        builder.WebHost.ConfigureKestrel(k => k.Listen(IPAddress.Loopback, 0, l => l.Protocols = HttpProtocols.Http1));
        var app = builder.Build();
        ScriptedEngine? engine = null;
        app.Run(c => c.Request.Path.Value switch
        {
            "/metrics" => engine!.Metrics(c),
            "/health" => engine!.Health(c),
            "/version" => engine!.Version(c),
            _ => NotFound(c),
        });
        await app.StartAsync(TestContext.Current.CancellationToken);
        var address = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First();
        engine = new ScriptedEngine(app, new Uri(address.TrimEnd('/') + "/"));
        if (metrics is not null)
        {
            engine.Metrics = Body(metrics);
        }

        return engine;
    }

    private static Task NotFound(HttpContext context)
    {
        context.Response.StatusCode = 404;
        return Task.CompletedTask;
    }

    public async ValueTask DisposeAsync()
    {
        await _app.StopAsync(CancellationToken.None);
        await _app.DisposeAsync();
    }
}
