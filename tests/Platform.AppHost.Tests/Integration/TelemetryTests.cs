using System.Collections.Concurrent;
using System.Text;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Platform.AppHost.Tests.Support;

namespace Platform.AppHost.Tests.Integration;

/// <summary>
/// With an OTLP endpoint, every resource the AppHost starts exports its telemetry there under its own
/// service.name and service.instance.id, as the Aspire dashboard (or any collector) expects.
/// </summary>
[Collection(ProcessCollection.Name)]
public sealed class TelemetryTests
{
    [Fact]
    public async Task OtlpEndpoint_EveryEngineReplica_ExportsLogsUnderItsOwnServiceInstance()
    {
        var ct = TestContext.Current.CancellationToken;
        await using var collector = await OtlpCollector.StartAsync(ct);
        await using var appHost = AppHostProcess.Start("--otlp-endpoint", collector.Url.ToString().TrimEnd('/'), "--otlp-protocol", "http/protobuf");
        await appHost.WaitForReadyAsync(PlatformFixture.ReadyTimeout);

        // OTLP/HTTP bodies are protobuf; resource attribute values appear in them as plain UTF-8 strings.
        string[] replicas = ["enginegeneral-0", "enginegeneral-1", "enginecode-0", "enginefallback-0"];
        await Poll.UntilAsync(
            () => replicas.All(r => collector.Received("/v1/logs", r)),
            TimeSpan.FromSeconds(60),
            "logs from every engine replica at the OTLP endpoint",
            ct);

        Assert.True(collector.Received("/v1/logs", "enginegeneral"));
        Assert.True(collector.Received("/v1/logs", "service.instance.id"));
    }

    /// <summary>A minimal OTLP/HTTP receiver that keeps every export body by path.</summary>
    private sealed class OtlpCollector : IAsyncDisposable
    {
        private readonly WebApplication _app;
        private readonly ConcurrentQueue<(string Path, string Body)> _exports = new();

        private OtlpCollector(WebApplication app) => _app = app;

        public Uri Url { get; private set; } = null!;

        public static async Task<OtlpCollector> StartAsync(CancellationToken ct)
        {
            var builder = WebApplication.CreateSlimBuilder();
            builder.WebHost.UseUrls("http://127.0.0.1:0");
            builder.Logging.ClearProviders();
            var app = builder.Build();
            var collector = new OtlpCollector(app);
            app.MapPost("/v1/{signal}", async (HttpContext context) =>
            {
                using var body = new MemoryStream();
                await context.Request.Body.CopyToAsync(body, context.RequestAborted);
                collector._exports.Enqueue((context.Request.Path.Value!, Encoding.UTF8.GetString(body.ToArray())));
                context.Response.ContentType = "application/x-protobuf";
                return Results.Empty;
            });
            await app.StartAsync(ct);
            var address = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First();
            collector.Url = new Uri(address);
            return collector;
        }

        public bool Received(string path, string text) =>
            _exports.Any(e => e.Path == path && e.Body.Contains(text, StringComparison.Ordinal));

        public async ValueTask DisposeAsync()
        {
            await _app.StopAsync(CancellationToken.None);
            await _app.DisposeAsync();
        }
    }
}
