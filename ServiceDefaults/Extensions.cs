using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Diagnostics.HealthChecks;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using Microsoft.Extensions.Logging;
using OpenTelemetry;
using OpenTelemetry.Metrics;
using OpenTelemetry.Trace;

namespace Microsoft.Extensions.Hosting;

/// <summary>
/// The Aspire service-defaults shape: telemetry, health, service discovery and resilience, built only from
/// packages our registry serves. Every Platform service calls <see cref="AddServiceDefaults{TBuilder}"/> and
/// <see cref="MapDefaultEndpoints"/>, so it runs unchanged under our AppHost, an Aspire AppHost or Kubernetes.
/// </summary>
public static class Extensions
{
    /// <summary>Readiness endpoint: every registered health check must pass.</summary>
    public const string HealthEndpointPath = "/health";

    /// <summary>Liveness endpoint: only checks tagged <see cref="LiveTag"/>.</summary>
    public const string AlivenessEndpointPath = "/alive";

    /// <summary>Prometheus scrape endpoint.</summary>
    public const string MetricsEndpointPath = "/metrics";

    /// <summary>Health-check tag for liveness checks.</summary>
    public const string LiveTag = "live";

    /// <summary>Kestrel endpoint name for HTTP/1.1 (health, metrics, OpenAI API).</summary>
    public const string HttpEndpointName = "http";

    /// <summary>Kestrel endpoint name for HTTP/2 cleartext (gRPC).</summary>
    public const string GrpcEndpointName = "grpc";

    /// <summary>Name of the HTTP client whose pipeline has no total timeout, for streaming inference.</summary>
    public const string StreamingHttpClientName = "platform-streaming";

    public static TBuilder AddServiceDefaults<TBuilder>(this TBuilder builder) where TBuilder : IHostApplicationBuilder
    {
        if (builder is WebApplicationBuilder web)
        {
            web.ConfigureNamedEndpoints();
        }

        builder.ConfigureOpenTelemetry();
        builder.AddDefaultHealthChecks();
        builder.Services.AddServiceDiscovery();
        builder.Services.ConfigureHttpClientDefaults(http =>
        {
            // Unary calls get the standard pipeline (rate limiter, total timeout, retry, circuit breaker,
            // attempt timeout). Streaming calls opt out through AddStreamingHttpClient.
            http.AddStandardResilienceHandler();
            http.AddServiceDiscovery();
        });
        builder.Services.AddStreamingHttpClient(StreamingHttpClientName);
        return builder;
    }

    /// <summary>
    /// Registers a named HTTP client for long-lived streams (SSE relays, token streams). The standard
    /// resilience handler's total timeout (30 s by default) would cut a long generation mid-stream and its
    /// retries would replay a request that already produced tokens, so this client has no resilience
    /// handler and no <see cref="HttpClient.Timeout"/>. Callers bound a stream with their own
    /// time-to-first-token and idle timeouts through the cancellation token. A disposed, half-read response
    /// closes its connection instead of being drained, so the upstream sees the cancellation immediately.
    /// </summary>
    public static IHttpClientBuilder AddStreamingHttpClient(this IServiceCollection services, string name)
    {
        var client = services.AddHttpClient(name)
            .ConfigureHttpClient(c => c.Timeout = Timeout.InfiniteTimeSpan)
            .ConfigurePrimaryHttpMessageHandler(() => new SocketsHttpHandler
            {
                PooledConnectionLifetime = TimeSpan.FromMinutes(5),
                MaxConnectionsPerServer = int.MaxValue,
                EnableMultipleHttp2Connections = true,
                AutomaticDecompression = System.Net.DecompressionMethods.None,

                // A relay that stops reading (client gone) must close the upstream connection at once so the
                // engine sees the disconnect and frees its KV cache; draining the rest would delay that ~2 s.
                MaxResponseDrainSize = 0,
            });
#pragma warning disable EXTEXP0001 // RemoveAllResilienceHandlers is marked experimental; it is exactly the intent here.
        client.RemoveAllResilienceHandlers();
#pragma warning restore EXTEXP0001
        return client;
    }

    public static TBuilder ConfigureOpenTelemetry<TBuilder>(this TBuilder builder) where TBuilder : IHostApplicationBuilder
    {
        builder.Logging.AddOpenTelemetry(logging =>
        {
            logging.IncludeFormattedMessage = true;
            logging.IncludeScopes = true;
        });

        builder.Services.AddOpenTelemetry()
            .WithMetrics(metrics => metrics
                .AddAspNetCoreInstrumentation()
                .AddHttpClientInstrumentation()
                .AddRuntimeInstrumentation()
                .AddMeter("Platform.*")
                .AddPrometheusExporter())
            .WithTracing(tracing => tracing
                .AddSource(builder.Environment.ApplicationName)
                .AddSource("Platform.*")
                .AddAspNetCoreInstrumentation(o => o.Filter = context => !IsInfrastructurePath(context.Request.Path))
                .AddGrpcClientInstrumentation()
                .AddHttpClientInstrumentation());

        // Exporters are on only when an endpoint is given (Aspire and our AppHost set it; tests do not).
        if (!string.IsNullOrWhiteSpace(builder.Configuration["OTEL_EXPORTER_OTLP_ENDPOINT"]))
        {
            builder.Services.AddOpenTelemetry().UseOtlpExporter();
        }

        return builder;
    }

    public static TBuilder AddDefaultHealthChecks<TBuilder>(this TBuilder builder) where TBuilder : IHostApplicationBuilder
    {
        builder.Services.AddHealthChecks()
            .AddCheck("self", () => HealthCheckResult.Healthy(), [LiveTag]);
        return builder;
    }

    /// <summary>
    /// Names the Kestrel endpoints' protocols so Aspire-style <c>Kestrel__Endpoints__{http,grpc}__Url</c>
    /// overrides need only a URL: <c>http</c> is HTTP/1.1, <c>grpc</c> is HTTP/2 cleartext (h2c).
    /// </summary>
    public static WebApplicationBuilder ConfigureNamedEndpoints(this WebApplicationBuilder builder)
    {
        builder.WebHost.ConfigureKestrel((context, kestrel) => kestrel
            .Configure(context.Configuration.GetSection("Kestrel"), reloadOnChange: false)
            .Endpoint(HttpEndpointName, e => e.ListenOptions.Protocols = HttpProtocols.Http1)
            .Endpoint(GrpcEndpointName, e => e.ListenOptions.Protocols = HttpProtocols.Http2));
        return builder;
    }

    /// <summary>
    /// gRPC server defaults: every gRPC server serves <c>grpc.health.v1.Health</c> (fed by the ASP.NET Core
    /// health checks) and server reflection, next to its own services.
    /// </summary>
    public static TBuilder AddGrpcServiceDefaults<TBuilder>(this TBuilder builder) where TBuilder : IHostApplicationBuilder
    {
        builder.Services.AddGrpc(o => o.EnableDetailedErrors = builder.Environment.IsDevelopment());
        builder.Services.AddGrpcHealthChecks();
        builder.Services.AddGrpcReflection();
        return builder;
    }

    public static WebApplication MapGrpcDefaultEndpoints(this WebApplication app)
    {
        app.MapGrpcHealthChecksService();
        app.MapGrpcReflectionService();
        return app;
    }

    /// <summary>
    /// Maps <c>/health</c> (ready: all checks), <c>/alive</c> (live: checks tagged "live") in every
    /// environment, and the Prometheus scrape endpoint <c>/metrics</c> unless <paramref name="prometheus"/>
    /// is false (EngineSim serves vLLM's own exposition there instead).
    /// </summary>
    public static WebApplication MapDefaultEndpoints(this WebApplication app, bool prometheus = true)
    {
        app.MapHealthChecks(HealthEndpointPath);
        app.MapHealthChecks(AlivenessEndpointPath, new HealthCheckOptions { Predicate = r => r.Tags.Contains(LiveTag) });
        if (prometheus)
        {
            app.MapPrometheusScrapingEndpoint(MetricsEndpointPath);
        }

        return app;
    }

    /// <summary>Health, liveness and scrape requests are kept out of traces.</summary>
    public static bool IsInfrastructurePath(PathString path) =>
        path.StartsWithSegments(HealthEndpointPath)
        || path.StartsWithSegments(AlivenessEndpointPath)
        || path.StartsWithSegments(MetricsEndpointPath);
}
