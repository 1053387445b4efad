using System.Text.Json;
using Microsoft.AspNetCore.Diagnostics;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Options;
using OpenTelemetry.Metrics;
using Platform.Gateway.Admin;
using Platform.Gateway.Api;
using Platform.Gateway.Auth;
using Platform.Gateway.Limits;
using Platform.Gateway.Telemetry;

namespace Microsoft.Extensions.Hosting;

/// <summary>Wiring of the gateway's front end: HTTP limits, API keys, per-key limits, telemetry, the admin key.</summary>
internal static class GatewayFrontEndExtensions
{
    public static WebApplicationBuilder AddGatewayFrontEnd(this WebApplicationBuilder builder)
    {
        var services = builder.Services;
        services.TryAddSingleton(TimeProvider.System);

        services.AddOptions<GatewayHttpOptions>()
            .BindConfiguration(GatewayHttpOptions.SectionName)
            .ValidateDataAnnotations()
            .ValidateOnStart();
        services.AddOptions<ApiKeyOptions>().BindConfiguration(ApiKeyOptions.SectionName);
        services.AddSingleton<ApiKeyStore>();
        services.AddHostedService<ApiKeyStartupCheck>();
        services.AddSingleton<GatewayTelemetry>();
        services.AddSingleton<KeyRateLimiter>();

        services.AddOptions<AdminOptions>().BindConfiguration(AdminOptions.SectionName).ValidateOnStart();
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IValidateOptions<AdminOptions>, AdminOptionsValidator>());
        services.AddSingleton<AdminKey>();
        services.AddSingleton<FleetChangeTimes>();
        services.AddHostedService(sp => sp.GetRequiredService<FleetChangeTimes>());

        // promtool check metrics rejects a "_count" suffix on anything but histograms and summaries; these runtime
        // gauges/counters get names that keep their meaning and pass it.
        services.AddOpenTelemetry().WithMetrics(metrics => metrics
            .AddView("dotnet.assembly.count", "dotnet.assembly.loaded")
            .AddView("dotnet.process.cpu.count", "dotnet.process.cpu.cores")
            .AddView("dotnet.timer.count", "dotnet.timer.active"));

        // Header abuse and slow clients are stopped by Kestrel before a request reaches the API: 431 for huge
        // headers, a headers timeout for slowloris, a minimum body rate for trickled bodies.
        services.AddOptions<KestrelServerOptions>().Configure<IOptions<GatewayHttpOptions>>((kestrel, http) =>
        {
            var o = http.Value;
            kestrel.AddServerHeader = false;
            kestrel.Limits.MaxRequestHeadersTotalSize = o.MaxRequestHeadersTotalBytes;
            kestrel.Limits.MaxRequestHeaderCount = o.MaxRequestHeaderCount;
            kestrel.Limits.RequestHeadersTimeout = TimeSpan.FromSeconds(o.RequestHeadersTimeoutSeconds);
            kestrel.Limits.MinRequestBodyDataRate = new MinDataRate(o.MinRequestBodyBytesPerSecond, TimeSpan.FromSeconds(o.MinRequestBodyGraceSeconds));
            kestrel.Limits.MaxRequestBodySize = Math.Max(o.MaxRequestBodyBytes, 4 * 1024 * 1024);
        });
        return builder;
    }

    /// <summary>
    /// Unexpected exceptions become a 500 with OpenAI's error body (the exception handler logs them); bad input never
    /// gets here, it is answered with a 4xx by the API itself.
    /// </summary>
    public static WebApplication UseOpenAiErrors(this WebApplication app)
    {
        app.UseExceptionHandler(new ExceptionHandlerOptions
        {
            ExceptionHandler = context => OpenAiApi.WriteErrorAsync(context.Response, GatewayErrors.Internal),
            SuppressDiagnosticsCallback = _ => false,
        });
        app.UseStatusCodePages(context =>
        {
            var response = context.HttpContext.Response;
            if (response.StatusCode is StatusCodes.Status404NotFound or StatusCodes.Status405MethodNotAllowed
                && context.HttpContext.Request.Path.StartsWithSegments("/v1"))
            {
                var error = new Platform.Gateway.Pipeline.GatewayError(response.StatusCode, GatewayErrors.InvalidRequest,
                    response.StatusCode == 404 ? "Unknown endpoint." : "Method not allowed for this endpoint.", null,
                    response.StatusCode == 404 ? "unknown_url" : "method_not_allowed");
                response.ContentType = "application/json";
                using var json = new Utf8JsonWriter(response.BodyWriter);
                OpenAiJson.WriteError(json, error);
            }

            return Task.CompletedTask;
        });
        return app;
    }
}
