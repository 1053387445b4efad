using System.Text.Json.Nodes;
using Platform.Fleet.Catalog;
using Platform.Gateway.Pipeline;

namespace Platform.Gateway.Upstream;

/// <summary>
/// Why a call to an engine ended without a normal end of stream. A closed set (as YARP's ForwarderError): the
/// pipeline decides retries, continuation and breaker outcomes from it alone.
/// </summary>
internal enum UpstreamError
{
    /// <summary>The stream ended normally (every choice finished, then <c>[DONE]</c>).</summary>
    None,

    /// <summary>The connection could not be made or was reset before a response arrived. Engine failure; retryable.</summary>
    ConnectFailed,

    /// <summary>The engine answered 5xx (or 408/429, its overload answers). Engine failure; retryable; may carry Retry-After.</summary>
    ServerError,

    /// <summary>The engine answered 4xx: the request's fault. Never retried, never a breaker failure; the body goes to the client.</summary>
    RequestRejected,

    /// <summary>No first event within the time-to-first-token timeout. Engine failure; retryable.</summary>
    FirstTokenTimeout,

    /// <summary>No event within the idle timeout after the stream started. Engine failure.</summary>
    IdleTimeout,

    /// <summary>The stream broke mid-way: reset, an error event, or end of stream without <c>[DONE]</c> and a finish. Engine failure.</summary>
    StreamBroken,

    /// <summary>The caller cancelled (client gone, deadline). Never an engine failure.</summary>
    Canceled,
}

/// <summary>One call to an engine: the body is sent as is (the pipeline has set model, stream and stream_options).</summary>
internal sealed record UpstreamRequest(EngineInfo Engine, GenerationApi Api, JsonObject Body);

/// <summary>What an engine stream yields, in order: deltas and usage, then exactly one <see cref="UpstreamEnd"/>.</summary>
internal abstract record UpstreamEvent;

/// <summary>A piece of one choice; raw JSON for logprobs and stop_reason as the engine wrote them.</summary>
internal sealed record UpstreamDelta(int ChoiceIndex, string Text, string? LogprobsJson, string? FinishReason, string? StopReasonJson) : UpstreamEvent;

/// <summary>Usage so far (continuous usage stats) or final usage.</summary>
internal sealed record UpstreamUsage(int PromptTokens, int CompletionTokens, int CachedTokens) : UpstreamEvent;

/// <summary>The end of the call. <see cref="Error"/> None: normal end.</summary>
/// <param name="Error">Why it ended.</param>
/// <param name="Status">The engine's HTTP status when it answered with an error status.</param>
/// <param name="ErrorBody">The engine's error body (OpenAI shape) for <see cref="UpstreamError.RequestRejected"/>.</param>
/// <param name="RetryAfter">The engine's Retry-After, when given.</param>
/// <param name="Detail">A short description for logs (no prompt or completion text).</param>
internal sealed record UpstreamEnd(UpstreamError Error, int? Status = null, string? ErrorBody = null, TimeSpan? RetryAfter = null, string? Detail = null) : UpstreamEvent
{
    public static readonly UpstreamEnd Completed = new(UpstreamError.None);

    /// <summary>True when the outcome counts against the engine's breaker.</summary>
    public bool IsEngineFailure => Error is not (UpstreamError.None or UpstreamError.RequestRejected or UpstreamError.Canceled);
}

/// <summary>
/// Streams one generation from an engine's OpenAI endpoint. Never throws for engine or network failures: they end the
/// enumeration as an <see cref="UpstreamEnd"/> value. Cancelling the token aborts the HTTP request at once.
/// </summary>
internal interface IUpstreamClient
{
    IAsyncEnumerable<UpstreamEvent> StreamAsync(UpstreamRequest request, CancellationToken cancellationToken);
}
