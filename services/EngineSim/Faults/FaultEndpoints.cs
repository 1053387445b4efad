using System.Text.Json;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Platform.EngineSim.Api;
using Platform.EngineSim.Engine;

namespace Platform.EngineSim.Faults;

/// <summary>
/// GET /admin/faults returns the faults in force; POST replaces them with the JSON object in the body
/// (absent fields: no fault). Unknown fields, wrong types and out-of-range values are a 400 naming the field.
/// </summary>
internal static partial class FaultEndpoints
{
    public const string Path = "/admin/faults";

    public static IEndpointRouteBuilder MapFaultsApi(this IEndpointRouteBuilder routes)
    {
        routes.MapGet(Path, (HttpContext http) => WriteAsync(http, Controller(http).Current));
        routes.MapPost(Path, SetAsync);
        return routes;
    }

    private static async Task SetAsync(HttpContext http)
    {
        try
        {
            using var body = await OpenAiEndpoints.ReadJsonAsync(http).ConfigureAwait(false);
            FaultSettings settings;
            try
            {
                settings = FaultSettingsJson.Read(body.RootElement);
            }
            catch (FormatException e)
            {
                throw OpenAiException.Validation(e.Message);
            }

            var errors = FaultSettingsValidator.Validate(settings);
            if (errors.Count > 0)
            {
                var first = errors[0];
                throw OpenAiException.Validation(string.Join(" ", errors.Select(x => $"Field '{x.Field}' {x.Message}.")), first.Field);
            }

            Controller(http).Set(settings);
            var logger = http.RequestServices.GetRequiredService<ILoggerFactory>().CreateLogger("Platform.EngineSim.Faults");
            LogFaultsChanged(logger, settings.ErrorRate, settings.ErrorStatus, settings.Slowdown, settings.Hang,
                settings.CrashAfterTokens, settings.KvDrift, settings.LieHealth, settings.LatencySpikeMs, settings.LatencySpikeRate);
            await WriteAsync(http, settings).ConfigureAwait(false);
        }
        catch (OpenAiException e) when (!http.Response.HasStarted)
        {
            await OpenAiEndpoints.WriteErrorAsync(http, e).ConfigureAwait(false);
        }
    }

    private static FaultController Controller(HttpContext http) => http.RequestServices.GetRequiredService<IInferenceEngine>().Faults;

    private static Task WriteAsync(HttpContext http, FaultSettings settings) =>
        JsonResponses.WriteAsync(http.Response, settings, static (w, s) => FaultSettingsJson.Write(w, s), http.RequestAborted);

    [LoggerMessage(EventId = 601, Level = LogLevel.Warning,
        Message = "Faults set: errorRate {ErrorRate} (status {ErrorStatus}), slowdown {Slowdown}, hang {Hang}, crashAfterTokens {CrashAfterTokens}, kvDrift {KvDrift}, lieHealth {LieHealth}, latency spikes {LatencySpikeMs} ms at rate {LatencySpikeRate}")]
    private static partial void LogFaultsChanged(ILogger logger, double errorRate, int errorStatus, double slowdown, bool hang,
        int? crashAfterTokens, double kvDrift, bool lieHealth, double latencySpikeMs, double latencySpikeRate);
}
