using System.Buffers;
using System.IO.Pipelines;
using System.Text.Json;
using Microsoft.Extensions.Options;
using Microsoft.Net.Http.Headers;
using Platform.Fleet.Catalog;
using Platform.Gateway.Auth;
using Platform.Gateway.Limits;
using Platform.Gateway.Pipeline;
using Platform.Gateway.Telemetry;

namespace Platform.Gateway.Api;

/// <summary>
/// The OpenAI-compatible HTTP API, as vLLM serves it: <c>POST /v1/chat/completions</c>, <c>POST /v1/completions</c>,
/// <c>GET /v1/models</c>. Every request is authenticated, read within the body limit, parsed, validated and admitted
/// by the key's limits before the pipeline sees it; errors use OpenAI's error body.
/// </summary>
internal static partial class OpenAiApi
{
    private static readonly byte[] DataPrefix = "data: "u8.ToArray();
    private static readonly byte[] EventEnd = "\n\n"u8.ToArray();
    private static readonly byte[] Done = "data: [DONE]\n\n"u8.ToArray();

    public static IEndpointRouteBuilder MapOpenAiApi(this IEndpointRouteBuilder endpoints)
    {
        var v1 = endpoints.MapGroup("/v1");
        v1.MapPost("/chat/completions", (HttpContext context) => GenerateAsync(context, GenerationApi.ChatCompletions));
        v1.MapPost("/completions", (HttpContext context) => GenerateAsync(context, GenerationApi.Completions));
        v1.MapGet("/models", ListModelsAsync);
        return endpoints;
    }

    /// <summary>Writes <paramref name="error"/> as OpenAI's error body with its status (and Retry-After).</summary>
    public static async Task WriteErrorAsync(HttpResponse response, GatewayError error)
    {
        if (response.HasStarted)
        {
            return;
        }

        response.StatusCode = error.Status;
        response.ContentType = "application/json";
        if (error.RetryAfter is { } retryAfter)
        {
            response.Headers.RetryAfter = ((long)Math.Ceiling(Math.Max(retryAfter.TotalSeconds, 1))).ToString(System.Globalization.CultureInfo.InvariantCulture);
        }

        using (var json = new Utf8JsonWriter(response.BodyWriter))
        {
            OpenAiJson.WriteError(json, error);
        }

        await response.BodyWriter.FlushAsync(CancellationToken.None);
    }

    /// <summary>The key of a request, or null (401): exactly one "Authorization: Bearer &lt;key&gt;".</summary>
    public static ApiKey? Authenticate(HttpRequest request, ApiKeyStore keys) =>
        BearerToken.TryRead(request.Headers.Authorization, out var token) ? keys.Find(token) : null;

    private static async Task ListModelsAsync(HttpContext context)
    {
        var services = context.RequestServices;
        var key = Authenticate(context.Request, services.GetRequiredService<ApiKeyStore>());
        if (key is null)
        {
            await WriteErrorAsync(context.Response, GatewayErrors.InvalidApiKey);
            return;
        }

        var catalog = services.GetRequiredService<IFleetCatalog>();
        var created = services.GetRequiredService<TimeProvider>().GetUtcNow().ToUnixTimeSeconds();
        context.Response.ContentType = "application/json";
        using (var json = new Utf8JsonWriter(context.Response.BodyWriter))
        {
            json.WriteStartObject();
            json.WriteString("object", "list");
            json.WriteStartArray("data");
            foreach (var model in catalog.Models)
            {
                if (!key.MayUse(model.Name))
                {
                    continue;
                }

                json.WriteStartObject();
                json.WriteString("id", model.Name);
                json.WriteString("object", "model");
                json.WriteNumber("created", created);
                json.WriteString("owned_by", "vllm");
                json.WriteString("root", model.Name);
                json.WriteNull("parent");
                json.WriteNumber("max_model_len", model.MaxModelLen);
                json.WriteStartArray("permission");
                json.WriteEndArray();
                json.WriteEndObject();
            }

            json.WriteEndArray();
            json.WriteEndObject();
        }

        await context.Response.BodyWriter.FlushAsync(context.RequestAborted);
    }

    private static async Task GenerateAsync(HttpContext context, GenerationApi api)
    {
        var services = context.RequestServices;
        var received = services.GetRequiredService<TimeProvider>().GetTimestamp();
        var (request, key, error) = await AdmitAsync(context, api, services);
        if (error is not null)
        {
            services.GetRequiredService<GatewayTelemetry>().Rejected(api, "http", error.Status);
            await WriteErrorAsync(context.Response, error);
            return;
        }

        var stream = request!.Body["stream"] is { } s && s.GetValueKind() == JsonValueKind.True;
        var relay = new GenerationRelay(context, request, key!, services, stream, received);
        await relay.RunAsync();
    }

    /// <summary>Key, content type, body, validation and limits, in that order; the first failure answers.</summary>
    private static async Task<(GenerationRequest? Request, ApiKey? Key, GatewayError? Error)> AdmitAsync(
        HttpContext context, GenerationApi api, IServiceProvider services)
    {
        var key = Authenticate(context.Request, services.GetRequiredService<ApiKeyStore>());
        if (key is null)
        {
            return (null, null, GatewayErrors.InvalidApiKey);
        }

        if (!IsJson(context.Request.ContentType))
        {
            return (null, key, GatewayErrors.UnsupportedMediaType);
        }

        var options = services.GetRequiredService<IOptions<GatewayHttpOptions>>().Value;
        var (body, readError) = await ReadBodyAsync(context, options.MaxRequestBodyBytes);
        if (readError is not null)
        {
            return (null, key, readError);
        }

        GenerationRequest? request;
        GatewayError? error;
        try
        {
            var json = RequestValidator.Parse(body.Array.AsSpan(0, body.Length), out error);
            request = json is null
                ? null
                : RequestValidator.Validate(api, json, key, services.GetRequiredService<IFleetCatalog>(), "http", out error);
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(body.Array);
        }

        if (request is null)
        {
            return (null, key, error);
        }

        var limited = await services.GetRequiredService<KeyRateLimiter>().AdmitAsync(key, context.RequestAborted);
        return (request, key, limited);
    }

    private static bool IsJson(string? contentType) =>
        MediaTypeHeaderValue.TryParse(contentType, out var media)
        && media.MediaType.Equals("application/json", StringComparison.OrdinalIgnoreCase)
        && (media.Charset.Length == 0 || media.Charset.Equals("utf-8", StringComparison.OrdinalIgnoreCase));

    /// <summary>Reads the whole body into a pooled buffer, stopping as soon as it exceeds the limit.</summary>
    private static async Task<(PooledBody Body, GatewayError? Error)> ReadBodyAsync(HttpContext context, int limit)
    {
        if (context.Request.ContentLength > limit)
        {
            return (default, GatewayErrors.BodyTooLarge);
        }

        var reader = context.Request.BodyReader;
        try
        {
            while (true)
            {
                var result = await reader.ReadAsync(context.RequestAborted);
                var buffer = result.Buffer;
                if (buffer.Length > limit)
                {
                    reader.AdvanceTo(buffer.End);
                    return (default, GatewayErrors.BodyTooLarge);
                }

                if (result.IsCompleted)
                {
                    var length = (int)buffer.Length;
                    var array = ArrayPool<byte>.Shared.Rent(Math.Max(length, 1));
                    buffer.CopyTo(array);
                    reader.AdvanceTo(buffer.End);
                    return (new PooledBody(array, length), null);
                }

                reader.AdvanceTo(buffer.Start, buffer.End);
            }
        }
        catch (BadHttpRequestException e)
        {
            return (default, e.StatusCode == StatusCodes.Status413PayloadTooLarge
                ? GatewayErrors.BodyTooLarge
                : e.StatusCode == StatusCodes.Status408RequestTimeout
                    ? GatewayErrors.RequestTimeout
                    : GatewayErrors.Invalid("The request body could not be read.", null, "bad_request"));
        }
    }

    private readonly record struct PooledBody(byte[] Array, int Length);

    /// <summary>
    /// Relays one generation to the HTTP client: SSE events as they arrive (flushed one by one) or one aggregated
    /// body. Headers (pool, engine, fallback) are set at routing and sent with the first byte; a failure before any
    /// content is an error status, after content an explicit error event without [DONE].
    /// </summary>
    private sealed class GenerationRelay(HttpContext context, GenerationRequest request, ApiKey key, IServiceProvider services, bool stream, long received)
    {
        private readonly HttpResponse _response = context.Response;
        private readonly PipeWriter _writer = context.Response.BodyWriter;
        private readonly long _created = services.GetRequiredService<TimeProvider>().GetUtcNow().ToUnixTimeSeconds();
        private Utf8JsonWriter? _json;
        private string _model = request.Model;
        private bool _started;
        private TimeSpan? _engineWait;
        private bool _unflushed;
        private bool _firstUnflushed;

        public async Task RunAsync()
        {
            var pipeline = services.GetRequiredService<IGenerationPipeline>();
            var telemetry = services.GetRequiredService<GatewayTelemetry>();
            var time = services.GetRequiredService<TimeProvider>();
            var cancellation = context.RequestAborted;
            using var scope = telemetry.Start(request.Api, request.Model, "http", time, received);
            var choices = stream ? null : new ChoiceAggregate[request.Choices];
            var events = pipeline.RunAsync(request, cancellation).GetAsyncEnumerator(cancellation);
            var next = default(ValueTask<bool>);
            var pending = false;
            try
            {
                while (true)
                {
                    // Written events are flushed only when the next one is not ready yet: the pieces of one engine
                    // read leave in one write, and nothing waits for a flush.
                    next = events.MoveNextAsync();
                    pending = true;
                    if (_unflushed && !next.IsCompleted)
                    {
                        await FlushAsync(scope, cancellation);
                    }

                    pending = false;
                    if (!await next)
                    {
                        if (_unflushed)
                        {
                            await FlushAsync(scope, cancellation);
                        }

                        break;
                    }

                    switch (events.Current)
                    {
                        case RoutedEvent routed:
                            scope.Routed(routed.Route);
                            _model = routed.Route.ServedModel;
                            _engineWait = routed.EngineWait;
                            SetRouteHeaders(routed.Route);
                            break;

                        case ContentEvent content:
                            scope.Content();
                            if (stream)
                            {
                                var first = !_started;
                                if (first)
                                {
                                    SetServerTiming(scope.GatewayTime(_engineWait));
                                    StartStream();
                                }

                                // The first content goes out with the headers and role chunks in one write.
                                OpenAiJson.WriteContentChunk(BeginEvent(), request.Api, request.Id, _created, _model, content);
                                EndEvent();
                                _unflushed = true;
                                _firstUnflushed |= first;
                            }
                            else if ((uint)content.ChoiceIndex < (uint)choices!.Length)
                            {
                                (choices[content.ChoiceIndex] ??= new ChoiceAggregate()).Add(content);
                            }

                            break;

                        case CompletedEvent completed:
                            scope.Completed(completed, request.Id, StatusCodes.Status200OK);
                            _model = completed.Route.ServedModel;
                            await CompleteAsync(completed, choices, cancellation);
                            Flushed(scope);
                            await services.GetRequiredService<KeyRateLimiter>().ChargeAsync(key, completed.Usage);
                            return;

                        case FailedEvent failed:
                            scope.Failed(failed.Error.Status, failed.Error.Code ?? failed.Error.Type);
                            if (_started)
                            {
                                OpenAiJson.WriteError(BeginEvent(), failed.Error);
                                EndEvent();
                                await FlushAsync(scope, cancellation);
                            }
                            else
                            {
                                await WriteErrorAsync(_response, failed.Error);
                            }

                            return;
                    }
                }
            }
            catch (OperationCanceledException) when (cancellation.IsCancellationRequested)
            {
                // The client went away: the pipeline has cancelled the engine request; nothing to answer.
            }
            finally
            {
                if (pending)
                {
                    // A flush failed (the client is gone) while the pipeline was working: let it end before disposing.
                    try
                    {
                        await next;
                    }
                    catch (OperationCanceledException)
                    {
                    }
                }

                await events.DisposeAsync();
                _json?.Dispose();
            }
        }

        private async ValueTask FlushAsync(GatewayTelemetry.GenerationScope scope, CancellationToken cancellation)
        {
            await _writer.FlushAsync(cancellation);
            Flushed(scope);
        }

        /// <summary>What was written has left; the first content's leaving ends the gateway's share of the TTFT.</summary>
        private void Flushed(GatewayTelemetry.GenerationScope scope)
        {
            _unflushed = false;
            if (_firstUnflushed)
            {
                _firstUnflushed = false;
                scope.FirstContentSent(_engineWait);
            }
        }

        private void SetRouteHeaders(RouteDecision route)
        {
            if (_response.HasStarted)
            {
                return;
            }

            var headers = _response.Headers;
            headers["x-platform-pool"] = route.Pool;
            headers["x-platform-engine"] = route.Engine.Id;
            if (route.Fallback)
            {
                headers["x-platform-fallback"] = "true";
            }
        }

        /// <summary>
        /// W3C Server-Timing on a streamed response: the gateway's own time to the first token and the engine's wait
        /// (milliseconds), as far as known when the headers go out (the first attempt served).
        /// </summary>
        private void SetServerTiming(TimeSpan? gatewayTime)
        {
            if (gatewayTime is { } gateway && _engineWait is { } engine && !_response.HasStarted)
            {
                _response.Headers["Server-Timing"] = string.Create(
                    System.Globalization.CultureInfo.InvariantCulture,
                    $"gateway;dur={Math.Max(0, gateway.TotalMilliseconds):F3}, engine;dur={engine.TotalMilliseconds:F3}");
            }
        }

        private async ValueTask StartStreamAsync()
        {
            if (_started)
            {
                return;
            }

            StartStream();
            await _writer.FlushAsync(context.RequestAborted);
        }

        /// <summary>Status, SSE headers and the role chunks, written but not flushed.</summary>
        private void StartStream()
        {
            _started = true;
            _response.StatusCode = StatusCodes.Status200OK;
            _response.ContentType = "text/event-stream; charset=utf-8";
            _response.Headers.CacheControl = "no-cache";
            _response.Headers["X-Accel-Buffering"] = "no";
            if (request.Api == GenerationApi.ChatCompletions)
            {
                for (var i = 0; i < request.Choices; i++)
                {
                    OpenAiJson.WriteChatRoleChunk(BeginEvent(), request.Id, _created, _model, i);
                    EndEvent();
                }
            }
        }

        private async Task CompleteAsync(CompletedEvent completed, ChoiceAggregate[]? choices, CancellationToken cancellation)
        {
            if (stream)
            {
                await StartStreamAsync();
                if (request.ClientWantsUsage)
                {
                    OpenAiJson.WriteUsageChunk(BeginEvent(), request.Api, request.Id, _created, _model, completed.Usage);
                    EndEvent();
                }

                _writer.Write(Done);
                await _writer.FlushAsync(cancellation);
                return;
            }

            for (var i = 0; i < choices!.Length; i++)
            {
                choices[i] ??= new ChoiceAggregate();
            }

            _response.StatusCode = StatusCodes.Status200OK;
            _response.ContentType = "application/json";
            using (var json = new Utf8JsonWriter(_writer))
            {
                OpenAiJson.WriteResponse(json, request.Api, request.Id, _created, _model, choices!, completed.Usage);
            }

            await _writer.FlushAsync(cancellation);
        }

        /// <summary>Starts an SSE event ("data: ") and returns the reused JSON writer for its payload.</summary>
        private Utf8JsonWriter BeginEvent()
        {
            _writer.Write(DataPrefix);
            if (_json is null)
            {
                _json = new Utf8JsonWriter(_writer);
            }
            else
            {
                _json.Reset(_writer);
            }

            return _json;
        }

        private void EndEvent()
        {
            _json!.Flush();
            _writer.Write(EventEnd);
        }
    }
}
