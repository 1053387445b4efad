using System.Text.Json.Nodes;
using Platform.Classifier.V1;
using Platform.Fleet.Catalog;

namespace Platform.Gateway.Pipeline;

/// <summary>Which OpenAI endpoint a request came through (gRPC requests are chat).</summary>
internal enum GenerationApi
{
    ChatCompletions,
    Completions,
}

/// <summary>One chat message (role + text), as the gateway reads it.</summary>
internal sealed record ChatTurn(string Role, string Content);

/// <summary>
/// A validated, authorized generation request, shared by the HTTP and gRPC front ends. <see cref="Body"/> is the
/// OpenAI request body to forward (every field the engine understands, also those the gateway does not read);
/// the pipeline sets <c>model</c>, <c>stream</c>, <c>stream_options</c> and, on continuation, the prefix fields
/// on a copy per attempt.
/// </summary>
internal sealed record GenerationRequest
{
    /// <summary>"chatcmpl-..." or "cmpl-..."; the same id for the whole generation, whatever engines served it.</summary>
    public required string Id { get; init; }

    public required GenerationApi Api { get; init; }

    /// <summary>The model the client asked for (catalog name).</summary>
    public required string Model { get; init; }

    /// <summary>Chat messages (chat API and gRPC); empty for completions.</summary>
    public IReadOnlyList<ChatTurn> Messages { get; init; } = [];

    /// <summary>The prompt (completions API); null for chat.</summary>
    public string? Prompt { get; init; }

    /// <summary>The request body to forward (validated JSON object).</summary>
    public required JsonObject Body { get; init; }

    /// <summary>Number of choices (n); 1 unless asked.</summary>
    public int Choices { get; init; } = 1;

    /// <summary>max_tokens after the key's ceiling was applied (null: engine default within the ceiling).</summary>
    public int? MaxTokens { get; init; }

    /// <summary>The client asked for the usage chunk (stream_options.include_usage).</summary>
    public bool ClientWantsUsage { get; init; }

    /// <summary>The request needs a pool without speculative decoding (n &gt; 1, best_of &gt; 1, beam search).</summary>
    public bool RequiresNoSpeculation { get; init; }

    /// <summary>A task kind given by the caller (skips classification); Unspecified: classify.</summary>
    public TaskKind KindHint { get; init; }

    /// <summary>The API key's tenant (for limits, metrics and logs; never the key).</summary>
    public required string Tenant { get; init; }

    /// <summary>"http" or "grpc" (metrics).</summary>
    public required string Frontend { get; init; }
}

/// <summary>Token accounting over the whole generation (all attempts and continuations).</summary>
internal readonly record struct GenerationUsage(int PromptTokens, int CompletionTokens, int CachedPromptTokens)
{
    public int TotalTokens => PromptTokens + CompletionTokens;
}

/// <summary>Where a request was routed and why.</summary>
/// <param name="Engine">The chosen engine.</param>
/// <param name="Pool">Its pool.</param>
/// <param name="ServedModel">The model the engine serves (the fallback model on fallback).</param>
/// <param name="Kind">The task kind used for routing.</param>
/// <param name="Fallback">No primary engine could take it: the fallback pool serves.</param>
/// <param name="Reason">Short reason for metrics/logs: "affinity", "no_affinity_pool", "pressure", "breaker_open", ...</param>
internal sealed record RouteDecision(EngineInfo Engine, string Pool, string ServedModel, TaskKind Kind, bool Fallback, string Reason);

/// <summary>
/// What the pipeline produces, in order: <see cref="RoutedEvent"/> (once, before any content: the HTTP front end may
/// send headers such as x-platform-fallback now), then <see cref="ContentEvent"/>s, possibly
/// <see cref="ContinuedEvent"/>s between them, then exactly one <see cref="CompletedEvent"/> or <see cref="FailedEvent"/>.
/// </summary>
internal abstract record GenerationEvent;

/// <summary>
/// The engine that serves the generation. <paramref name="EngineWait"/>: time from the upstream request to the engine's
/// first event, when the first attempt served (null after a retry); the rest of the time to first token is the gateway's.
/// </summary>
internal sealed record RoutedEvent(RouteDecision Route, TimeSpan? EngineWait = null) : GenerationEvent;

/// <summary>
/// Generated text of one choice. <paramref name="LogprobsJson"/> is the engine's raw <c>logprobs</c> JSON for this
/// piece (null when not asked). <paramref name="FinishReason"/> ("stop", "length") is set on the choice's last
/// piece, with vLLM's <paramref name="StopReasonJson"/> (raw JSON: a string, a number or null).
/// </summary>
internal sealed record ContentEvent(int ChoiceIndex, string Text, string? LogprobsJson, string? FinishReason, string? StopReasonJson) : GenerationEvent;

/// <summary>An engine failed after content was streamed; the generation goes on on <paramref name="Route"/>.</summary>
internal sealed record ContinuedEvent(RouteDecision Route, string Reason) : GenerationEvent;

/// <summary>The generation ended normally.</summary>
internal sealed record CompletedEvent(GenerationUsage Usage, RouteDecision Route, int Retries, int Continuations) : GenerationEvent;

/// <summary>
/// The generation failed. Before any <see cref="ContentEvent"/> the front end answers with the error's status and
/// OpenAI error body (or gRPC status); after content it ends the stream with an explicit error event.
/// </summary>
internal sealed record FailedEvent(GatewayError Error, int Retries, int Continuations) : GenerationEvent;

/// <summary>A client-visible error, mapped to an HTTP status + OpenAI error body, or to a gRPC status.</summary>
/// <param name="Status">HTTP status (400, 401, 403, 404, 413, 429, 502, 503, 504...).</param>
/// <param name="Type">OpenAI error type: "invalid_request_error", "authentication_error", "permission_error", "not_found_error", "rate_limit_error", "server_error", "service_unavailable".</param>
/// <param name="Message">Clear message for the client (no secrets, no prompt text).</param>
/// <param name="Param">The offending parameter, when one.</param>
/// <param name="Code">Machine-readable code, e.g. "model_not_found", "context_length_exceeded", "no_engine_available".</param>
/// <param name="RetryAfter">For 429/503: when to retry.</param>
internal sealed record GatewayError(int Status, string Type, string Message, string? Param = null, string? Code = null, TimeSpan? RetryAfter = null);

/// <summary>
/// Runs one generation end to end: classify (unless hinted), route, call engines (retries before the first token,
/// continuation after it), account usage, and report every step as events. Cancelling the token (client gone,
/// deadline) cancels the upstream request at once and ends the enumeration without a FailedEvent.
/// </summary>
internal interface IGenerationPipeline
{
    IAsyncEnumerable<GenerationEvent> RunAsync(GenerationRequest request, CancellationToken cancellationToken);
}
