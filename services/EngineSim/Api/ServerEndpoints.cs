using System.Text;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.DependencyInjection;
using Platform.EngineSim.Engine;

namespace Platform.EngineSim.Api;

/// <summary>
/// vLLM's server endpoints: /health (200 with an empty body, 503 once the engine is dead), /ping (the same,
/// for SageMaker), /version, /metrics (the engine's Prometheus exposition), /tokenize and /detokenize;
/// plus /alive, the liveness probe every Platform service has.
/// </summary>
internal static class ServerEndpoints
{
    /// <summary>The vLLM release whose API and metrics EngineSim follows.</summary>
    public const string VllmVersion = "0.11.0";

    /// <summary>prometheus_client's CONTENT_TYPE_LATEST for the text format 0.0.4.</summary>
    public const string MetricsContentType = "text/plain; version=0.0.4; charset=utf-8";

    public static IEndpointRouteBuilder MapServerApi(this IEndpointRouteBuilder routes)
    {
        routes.MapGet("/health", Health);
        routes.MapMethods("/ping", ["GET", "POST"], Health);
        routes.MapGet("/alive", static () => Results.Ok());
        routes.MapGet("/version", Version);
        routes.MapGet("/metrics", MetricsAsync);
        routes.MapPost("/tokenize", ModelEndpoints.TokenizeAsync);
        routes.MapPost("/detokenize", ModelEndpoints.DetokenizeAsync);
        return routes;
    }

    /// <summary>
    /// Not ready when the engine is dead or hung; the lieHealth fault answers 200 regardless, which is
    /// exactly the failure a router must detect some other way.
    /// </summary>
    private static IResult Health(HttpContext http)
    {
        var engine = http.RequestServices.GetRequiredService<IInferenceEngine>();
        var faults = engine.Faults.Current;
        if (faults.LieHealth)
        {
            return Results.Ok();
        }

        return faults.Hang || engine.IsDead
            ? Results.StatusCode(StatusCodes.Status503ServiceUnavailable)
            : Results.Ok();
    }

    /// <summary>{"version": "0.11.0"}; the X-Engine header says it is the simulator, for anyone who asks.</summary>
    private static IResult Version(HttpContext http)
    {
        http.Response.Headers["X-Engine"] = "EngineSim";
        return Results.Text("{\"version\":\"" + VllmVersion + "\"}", "application/json", Encoding.UTF8);
    }

    private static async Task MetricsAsync(HttpContext http)
    {
        var engine = http.RequestServices.GetRequiredService<IInferenceEngine>();

        // WriteMetrics is synchronous and Kestrel forbids synchronous body writes: render, then copy.
        var text = new StringWriter(System.Globalization.CultureInfo.InvariantCulture);
        engine.WriteMetrics(text);
        http.Response.ContentType = MetricsContentType;
        var bytes = Encoding.UTF8.GetBytes(text.ToString());
        http.Response.ContentLength = bytes.Length;
        await http.Response.Body.WriteAsync(bytes, http.RequestAborted).ConfigureAwait(false);
    }
}
