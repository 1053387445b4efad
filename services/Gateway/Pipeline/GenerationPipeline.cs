using System.Runtime.CompilerServices;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Platform.Classifier.V1;
using Platform.Fleet.State;
using Platform.Gateway.Breakers;
using Platform.Gateway.Routing;
using Platform.Gateway.Upstream;

namespace Platform.Gateway.Pipeline;

/// <summary>
/// One generation end to end. Before the first token an engine failure is retried on another engine (bounded
/// attempts, jittered back-off, the retry budget; never a 4xx). After it the generation is continued on another
/// engine of the model (or its fallback) from what was generated so far, and the client's stream goes on unbroken;
/// when that is impossible the stream ends with a <see cref="FailedEvent"/>, never a silent truncation. Events are
/// relayed as they arrive; the <see cref="RoutedEvent"/> comes with the first content and names the engine that
/// produced it (a generation that fails before any content has none, only its <see cref="FailedEvent"/>). Usage: prompt tokens of the first attempt, completion tokens summed over attempts (each
/// attempt counts only what it generated).
/// </summary>
internal sealed partial class GenerationPipeline(
    IRequestClassifier classifier,
    IEngineRouter router,
    IUpstreamClient upstream,
    IInFlightTracker inFlight,
    EngineLatencyTracker latency,
    BreakerRecorder breakers,
    RetryBudget retryBudget,
    EngineSideMetrics metrics,
    IOptions<RetryOptions> retryOptions,
    IOptions<RoutingOptions> routingOptions,
    IOptions<UpstreamOptions> upstreamOptions,
    TimeProvider timeProvider,
    ILogger<GenerationPipeline> logger) : IGenerationPipeline
{
    private static readonly TimeSpan NoEngineRetryAfter = TimeSpan.FromSeconds(1);
    private readonly RetryOptions _retry = retryOptions.Value;
    private readonly RoutingOptions _routing = routingOptions.Value;
    private readonly UpstreamOptions _upstream = upstreamOptions.Value;

    public async IAsyncEnumerable<GenerationEvent> RunAsync(GenerationRequest request, [EnumeratorCancellation] CancellationToken cancellationToken)
    {
        var kind = request.KindHint != TaskKind.Unspecified ? request.KindHint : await ClassifyAsync(request, cancellationToken).ConfigureAwait(false);
        if (cancellationToken.IsCancellationRequested)
        {
            yield break;
        }

        retryBudget.OnRequest();
        var started = timeProvider.GetTimestamp();
        var prefix = _routing.PrefixAffinity ? PrefixHash.Compute(request, _routing.PrefixChars) : null;
        var exclude = new List<string>(2);
        var generated = new Generated(request.Choices);
        var retries = 0;
        var continuations = 0;
        var attempts = 0;
        int? promptTokens = null;
        var cachedTokens = 0;
        var completionTokens = 0;
        UpstreamEnd? lastFailure = null;
        RouteDecision? previousRoute = null;
        var routedSent = false;

        while (true)
        {
            var contentSeen = generated.Any;
            var route = router.Route(new RoutingRequest(request.Model, kind, prefix, exclude, request.RequiresNoSpeculation));
            if (route is null && !contentSeen && exclude.Count > 0)
            {
                // Every other engine is out: a transient failure may still succeed where it happened.
                route = router.Route(new RoutingRequest(request.Model, kind, prefix, [], request.RequiresNoSpeculation));
            }

            if (route is null)
            {
                var error = contentSeen ? Interrupted("no engine can continue it")
                    : lastFailure is null ? new GatewayError(503, "service_unavailable", $"No engine can serve model '{request.Model}' now.", null, "no_engine_available", NoEngineRetryAfter)
                    : FromFailure(lastFailure);
                if (contentSeen)
                {
                    metrics.Continued(lastFailure?.Error.ToString() ?? "none", success: false);
                }

                LogNoRoute(logger, request.Id, request.Model, contentSeen);
                yield return new FailedEvent(error, retries, continuations);
                yield break;
            }

            metrics.Routed(route);
            if (route.Fallback)
            {
                metrics.Fallback(request.Model, route.Reason);
            }

            if (previousRoute is not null && contentSeen)
            {
                metrics.Continued(lastFailure!.Error.ToString(), success: true);
                LogContinuing(logger, request.Id, previousRoute.Engine.Id, route.Engine.Id, lastFailure.Error, completionTokens);
                yield return new ContinuedEvent(route, lastFailure.Error.ToString());
            }

            previousRoute = route;
            var body = BuildBody(request, route, generated, completionTokens, out var impossible);
            if (body is null)
            {
                yield return new FailedEvent(Interrupted(impossible!), retries, continuations);
                yield break;
            }

            if (body.Count == 0)
            {
                // max_tokens were all generated before the engine failed: the choice ended by length.
                yield return new ContentEvent(0, string.Empty, null, "length", null);
                yield return new CompletedEvent(new GenerationUsage(promptTokens ?? 0, completionTokens, cachedTokens), route, retries, continuations);
                yield break;
            }

            attempts++;
            var attemptStarted = timeProvider.GetTimestamp();
            var firstEvent = true;
            var ttft = TimeSpan.Zero;
            UpstreamUsage? usage = null;
            UpstreamEnd end = new(UpstreamError.Canceled);
            // Waiting for its first token until one arrives (RecordFirstToken) or the attempt ends (finally).
            latency.AttemptSent(route.Engine.Id);
            try
            {
                using (inFlight.Track(route.Engine.Id))
                {
                    await foreach (var ev in upstream.StreamAsync(new UpstreamRequest(route.Engine, request.Api, body), cancellationToken).ConfigureAwait(false))
                    {
                        switch (ev)
                        {
                            case UpstreamDelta delta:
                                if (firstEvent)
                                {
                                    firstEvent = false;
                                    ttft = timeProvider.GetElapsedTime(attemptStarted);
                                    metrics.UpstreamFirstToken(route.Pool, ttft);
                                    latency.RecordFirstToken(route.Engine.Id, ttft);
                                }

                                // A continuation runs one choice (n = 1) as index 0.
                                var index = contentSeen ? generated.FirstUnfinished : delta.ChoiceIndex;
                                if ((uint)index >= (uint)request.Choices)
                                {
                                    continue;
                                }

                                if (!routedSent)
                                {
                                    // Announced with the first content, so it names the engine that serves (after any
                                    // retries), not the first one tried.
                                    routedSent = true;
                                    yield return new RoutedEvent(route, attempts == 1 ? ttft : null);
                                }

                                generated.Add(index, delta.Text, delta.FinishReason is not null);
                                yield return new ContentEvent(index, delta.Text, delta.LogprobsJson, delta.FinishReason, delta.StopReasonJson);
                                break;
                            case UpstreamUsage u:
                                usage = u;
                                break;
                            case UpstreamEnd e:
                                end = e;
                                break;
                        }
                    }
                }
            }
            finally
            {
                if (firstEvent)
                {
                    latency.AttemptEndedWithoutFirstToken(route.Engine.Id);
                }
            }

            if (usage is { } used)
            {
                if (promptTokens is null)
                {
                    promptTokens = used.PromptTokens;
                    cachedTokens = used.CachedTokens;
                }

                completionTokens += used.CompletionTokens;
            }

            switch (end.Error)
            {
                case UpstreamError.None:
                    breakers.Record(route.Engine.Id, EngineOutcome.Success, null);
                    latency.RecordStream(route.Engine.Id, ttft, timeProvider.GetElapsedTime(attemptStarted), (usage?.CompletionTokens ?? 0) / Math.Max(1, request.Choices));
                    if (!routedSent)
                    {
                        yield return new RoutedEvent(route);
                    }

                    yield return new CompletedEvent(new GenerationUsage(promptTokens ?? 0, completionTokens, cachedTokens), route, retries, continuations);
                    yield break;
                case UpstreamError.Canceled:
                    yield break;
                case UpstreamError.RequestRejected:
                    // The request earned it: the engine is fine, nothing is retried.
                    breakers.Record(route.Engine.Id, EngineOutcome.Success, null);
                    yield return new FailedEvent(generated.Any ? Interrupted("the engine rejected the continuation") : FromRejection(end), retries, continuations);
                    yield break;
            }

            breakers.Record(route.Engine.Id, EngineOutcome.Failure, end.Detail ?? end.Error.ToString());
            metrics.UpstreamFailed(route.Pool, end.Error.ToString());
            LogAttemptFailed(logger, request.Id, route.Engine.Id, end.Error, end.Status ?? 0, end.Detail ?? string.Empty);
            exclude.Add(route.Engine.Id);
            lastFailure = end;

            if (generated.Any)
            {
                if (generated.AllFinished)
                {
                    // Every choice had its finish; only the end of the stream was lost.
                    yield return new CompletedEvent(new GenerationUsage(promptTokens ?? 0, completionTokens, cachedTokens), route, retries, continuations);
                    yield break;
                }

                if (continuations >= _retry.MaxContinuations)
                {
                    metrics.Continued(end.Error.ToString(), success: false);
                    yield return new FailedEvent(Interrupted("continuation attempts are exhausted"), retries, continuations);
                    yield break;
                }

                if (request.Choices > 1)
                {
                    metrics.Continued(end.Error.ToString(), success: false);
                    yield return new FailedEvent(Interrupted("streams with n > 1 are not continued"), retries, continuations);
                    yield break;
                }

                continuations++;
                continue;
            }

            if (attempts >= _retry.MaxAttempts)
            {
                yield return new FailedEvent(FromFailure(end), retries, continuations);
                yield break;
            }

            if (!retryBudget.TryWithdraw())
            {
                metrics.RetryBudgetExhausted();
                yield return new FailedEvent(
                    new GatewayError(503, "service_unavailable", "Engines are failing and the retry budget is spent; retry later.", null, "retry_budget_exhausted", NoEngineRetryAfter),
                    retries, continuations);
                yield break;
            }

            var remaining = _upstream.FirstTokenTimeout - timeProvider.GetElapsedTime(started);
            var delay = Backoff.Delay(retries + 1, _retry.BaseDelay, _retry.MaxDelay, Random.Shared.NextDouble(), end.RetryAfter, remaining);
            if (!await DelayAsync(delay, cancellationToken).ConfigureAwait(false))
            {
                yield break;
            }

            retries++;
            metrics.Retried(end.Error.ToString());
        }
    }

    private async ValueTask<TaskKind> ClassifyAsync(GenerationRequest request, CancellationToken cancellationToken)
    {
        try
        {
            IReadOnlyList<ChatTurn> turns = request.Api == GenerationApi.Completions
                ? (request.Prompt is { } prompt ? [new ChatTurn("user", prompt)] : [])
                : request.Messages;
            return await classifier.ClassifyAsync(turns, cancellationToken).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            return TaskKind.General;
        }
    }

    private async ValueTask<bool> DelayAsync(TimeSpan delay, CancellationToken cancellationToken)
    {
        if (delay <= TimeSpan.Zero)
        {
            return !cancellationToken.IsCancellationRequested;
        }

        try
        {
            await Task.Delay(delay, timeProvider, cancellationToken).ConfigureAwait(false);
            return true;
        }
        catch (OperationCanceledException)
        {
            return false;
        }
    }

    /// <summary>
    /// The body of one attempt: a copy of the request's with the served model and a usage-carrying stream; on
    /// continuation the generated text as the assistant prefix (chat) or appended to the prompt (completions), and
    /// max_tokens reduced by what was generated. Null when continuation is impossible; empty when nothing is left.
    /// </summary>
    private static JsonObject? BuildBody(GenerationRequest request, RouteDecision route, Generated generated, int completionTokens, out string? impossible)
    {
        impossible = null;
        var body = (JsonObject)request.Body.DeepClone();
        body["model"] = route.ServedModel;
        body["stream"] = true;
        body["stream_options"] = new JsonObject { ["include_usage"] = true, ["continuous_usage_stats"] = true };
        if (request.MaxTokens is { } max)
        {
            body.Remove("max_completion_tokens");
            body["max_tokens"] = max;
        }

        if (!generated.Any)
        {
            return body;
        }

        if (request.Choices > 1)
        {
            impossible = "streams with n > 1 are not continued";
            return null;
        }

        var text = generated.Text(0);
        if (request.MaxTokens is { } ceiling)
        {
            var left = ceiling - completionTokens;
            if (left <= 0)
            {
                return [];
            }

            body["max_tokens"] = left;
        }

        if (body["min_tokens"] is JsonValue minValue && minValue.TryGetValue<int>(out var min))
        {
            body["min_tokens"] = Math.Max(0, min - completionTokens);
        }

        if (request.Api == GenerationApi.Completions)
        {
            if (body["prompt"] is not JsonValue promptValue || !promptValue.TryGetValue<string>(out var prompt))
            {
                impossible = "only a text prompt can be continued";
                return null;
            }

            body["prompt"] = prompt + text;
            body.Remove("echo");
            return body;
        }

        if (body["messages"] is not JsonArray messages)
        {
            impossible = "the request has no messages";
            return null;
        }

        var clientPrefill = body["continue_final_message"] is JsonValue cont && cont.TryGetValue<bool>(out var c) && c;
        if (clientPrefill && messages.Count > 0 && messages[^1] is JsonObject last
            && last["role"]?.GetValueKind() == JsonValueKind.String && (string?)last["role"] == "assistant"
            && last["content"] is JsonValue lastContent && lastContent.TryGetValue<string>(out var existing))
        {
            last["content"] = existing + text;
        }
        else
        {
            messages.Add(new JsonObject { ["role"] = "assistant", ["content"] = text });
        }

        body["continue_final_message"] = true;
        body["add_generation_prompt"] = false;
        return body;
    }

    private static GatewayError Interrupted(string why) =>
        new(502, "server_error", $"The engine failed mid-stream and the generation could not be continued: {why}.", null, "stream_interrupted");

    private static GatewayError FromFailure(UpstreamEnd end) => end.Error switch
    {
        UpstreamError.ConnectFailed => new GatewayError(503, "service_unavailable", "No engine could be reached.", null, "engine_unavailable", end.RetryAfter ?? NoEngineRetryAfter),
        UpstreamError.FirstTokenTimeout or UpstreamError.IdleTimeout => new GatewayError(504, "server_error", "The engine did not answer in time.", null, "engine_timeout"),
        UpstreamError.ServerError when end.Status == 503 => new GatewayError(503, "service_unavailable", "The engines are overloaded.", null, "engine_overloaded", end.RetryAfter ?? NoEngineRetryAfter),
        _ => new GatewayError(502, "server_error", "The engine failed to generate a response.", null, "engine_error", end.RetryAfter),
    };

    /// <summary>The engine's own 4xx, relayed: its status, message, param and code (OpenAI's error body).</summary>
    private static GatewayError FromRejection(UpstreamEnd end)
    {
        var status = end.Status ?? 400;
        var type = status switch
        {
            401 => "authentication_error",
            403 => "permission_error",
            404 => "not_found_error",
            _ => "invalid_request_error",
        };
        string message = "The engine rejected the request.";
        string? param = null, code = null;
        if (end.ErrorBody is { Length: > 0 } raw)
        {
            try
            {
                using var doc = JsonDocument.Parse(raw);
                var error = doc.RootElement.ValueKind == JsonValueKind.Object && doc.RootElement.TryGetProperty("error", out var e) ? e : doc.RootElement;
                if (error.ValueKind == JsonValueKind.Object)
                {
                    message = error.TryGetProperty("message", out var m) && m.ValueKind == JsonValueKind.String ? m.GetString()! : message;
                    param = error.TryGetProperty("param", out var p) && p.ValueKind == JsonValueKind.String ? p.GetString() : null;
                    code = error.TryGetProperty("code", out var cd) ? cd.ValueKind switch
                    {
                        JsonValueKind.String => cd.GetString(),
                        JsonValueKind.Number => cd.GetRawText(),
                        _ => null,
                    } : null;
                }
                else if (error.ValueKind == JsonValueKind.String)
                {
                    message = error.GetString()!;
                }
            }
            catch (JsonException)
            {
                // Not JSON: keep the generic message rather than relaying arbitrary text.
            }
        }

        return new GatewayError(status, type, message, param, code, end.RetryAfter);
    }

    /// <summary>What each choice generated so far (the continuation prefix).</summary>
    private sealed class Generated(int choices)
    {
        private readonly StringBuilder?[] _text = new StringBuilder?[Math.Max(1, choices)];
        private readonly bool[] _finished = new bool[Math.Max(1, choices)];
        private int _finishedCount;

        public bool Any { get; private set; }

        public bool AllFinished => _finishedCount == _finished.Length;

        public int FirstUnfinished => Math.Max(0, Array.IndexOf(_finished, false));

        public void Add(int index, string text, bool finished)
        {
            Any = true;
            if (text.Length > 0)
            {
                (_text[index] ??= new StringBuilder(256)).Append(text);
            }

            if (finished && !_finished[index])
            {
                _finished[index] = true;
                _finishedCount++;
            }
        }

        public string Text(int index) => _text[index]?.ToString() ?? string.Empty;
    }

    [LoggerMessage(EventId = 3401, Level = LogLevel.Warning, Message = "Request {RequestId}: attempt on engine {EngineId} failed with {Error} (HTTP {Status}) {Detail}")]
    private static partial void LogAttemptFailed(ILogger logger, string requestId, string engineId, UpstreamError error, int status, string detail);

    [LoggerMessage(EventId = 3402, Level = LogLevel.Information, Message = "Request {RequestId}: continuing on engine {To} after {Error} on {From} ({Tokens} tokens generated)")]
    private static partial void LogContinuing(ILogger logger, string requestId, string from, string to, UpstreamError error, int tokens);

    [LoggerMessage(EventId = 3403, Level = LogLevel.Warning, Message = "Request {RequestId}: no engine for model {Model} (content already sent: {ContentSent})")]
    private static partial void LogNoRoute(ILogger logger, string requestId, string model, bool contentSent);
}
