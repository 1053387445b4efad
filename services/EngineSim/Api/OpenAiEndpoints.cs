using System.Text.Json;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Platform.EngineSim.Engine;
using Platform.EngineSim.Faults;

namespace Platform.EngineSim.Api;

/// <summary>The OpenAI-compatible generation endpoints, framed as vLLM's OpenAI server frames them.</summary>
internal static partial class OpenAiEndpoints
{
    public static IEndpointRouteBuilder MapOpenAiApi(this IEndpointRouteBuilder routes)
    {
        routes.MapPost("/v1/chat/completions", (HttpContext http) => GenerateAsync(http, ApiKind.Chat));
        routes.MapPost("/v1/completions", (HttpContext http) => GenerateAsync(http, ApiKind.Completion));
        routes.MapGet("/v1/models", ModelEndpoints.ListModelsAsync);
        return routes;
    }

    private static async Task GenerateAsync(HttpContext http, ApiKind kind)
    {
        var services = http.RequestServices;
        var logger = services.GetRequiredService<ILoggerFactory>().CreateLogger("Platform.EngineSim.Api");
        try
        {
            using var body = await ReadJsonAsync(http).ConfigureAwait(false);
            var plan = services.GetRequiredService<RequestPlanner>().Plan(kind, body.RootElement, http.Request);
            if (services.GetRequiredService<FaultInjector>().ShouldFail(out var status))
            {
                throw OpenAiException.ForStatus(status, $"Injected fault: errorRate answered {status} before any token.");
            }

            var responder = services.GetRequiredService<GenerationResponder>();
            await (plan.Stream ? responder.StreamAsync(http, plan) : responder.RespondAsync(http, plan)).ConfigureAwait(false);
        }
        catch (OpenAiException e) when (!http.Response.HasStarted)
        {
            LogRejected(logger, e.Status, e.Type, e.Param ?? "");
            await WriteErrorAsync(http, e).ConfigureAwait(false);
        }
        catch (EngineDeadException) when (!http.Response.HasStarted)
        {
            LogRejected(logger, StatusCodes.Status500InternalServerError, "InternalServerError", "");
            await WriteErrorAsync(http, new OpenAiException(StatusCodes.Status500InternalServerError, "InternalServerError", "The engine is dead.")).ConfigureAwait(false);
        }
        catch (ArgumentException e) when (!http.Response.HasStarted)
        {
            // The engine refuses what cannot ever run (a prompt larger than the whole KV cache).
            var error = OpenAiException.BadRequest(e.Message);
            LogRejected(logger, error.Status, error.Type, "");
            await WriteErrorAsync(http, error).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (http.RequestAborted.IsCancellationRequested)
        {
            // The client went away before the answer started; the engine request was cancelled with it.
        }
    }

    /// <summary>
    /// Reads the body as JSON. Malformed JSON and wrong content are a 400 in FastAPI's words; a body over the
    /// limit is Kestrel's 413.
    /// </summary>
    internal static async Task<JsonDocument> ReadJsonAsync(HttpContext http)
    {
        try
        {
            return await JsonDocument.ParseAsync(http.Request.Body, default, http.RequestAborted).ConfigureAwait(false);
        }
        catch (JsonException e)
        {
            var position = e.BytePositionInLine ?? 0;
            throw OpenAiException.Validation(
                $"[{{'type': 'json_invalid', 'loc': ('body', {position}), 'msg': 'JSON decode error', 'input': {{}}, 'ctx': {{'error': '{FirstLine(e.Message)}'}}}}]");
        }
        catch (BadHttpRequestException e) when (e.StatusCode == StatusCodes.Status413PayloadTooLarge)
        {
            throw OpenAiException.ForStatus(StatusCodes.Status413PayloadTooLarge, "Request body too large.");
        }
    }

    internal static Task WriteErrorAsync(HttpContext http, OpenAiException error)
    {
        http.Response.Clear();
        return error.WriteResponseAsync(http.Response, http.RequestAborted);
    }

    private static string FirstLine(string message)
    {
        var end = message.IndexOfAny(['\r', '\n', '\'']);
        return end < 0 ? message : message[..end];
    }

    [LoggerMessage(EventId = 100, Level = LogLevel.Information, Message = "Request rejected with {Status} {ErrorType} (param {Param})")]
    private static partial void LogRejected(ILogger logger, int status, string errorType, string param);
}
