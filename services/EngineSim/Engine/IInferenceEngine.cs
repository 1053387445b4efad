using Platform.EngineSim.Faults;

namespace Platform.EngineSim.Engine;

/// <summary>
/// The simulated GPU engine: continuous batching over a paged KV cache, with prefix caching and
/// speculative decoding. The HTTP layer (Api/) validates and tokenizes a request, then streams its steps.
/// One instance per process; thread-safe.
/// </summary>
internal interface IInferenceEngine
{
    /// <summary>The engine's configuration, fixed at start.</summary>
    EngineOptions Options { get; }

    /// <summary>Faults in force; read on every step, changed at run time by POST /admin/faults.</summary>
    FaultController Faults { get; }

    /// <summary>
    /// Admits a request (it waits in the queue until the scheduler gives it a batch slot and KV blocks) and
    /// streams one <see cref="StepOutput"/> per engine step that produced tokens for it; the last one has
    /// <see cref="StepOutput.FinishReason"/> set. Cancelling the token (or disposing the enumerator early)
    /// aborts the request at once: it leaves the batch or the queue and frees its blocks; enumeration then
    /// throws <see cref="OperationCanceledException"/>. As in vLLM V1, an aborted request stays out of
    /// <c>vllm:request_success_total</c> and the per-request histograms (the <c>finished_reason="abort"</c>
    /// series exists and stays 0); the tokens it was served still count in the token counters.
    /// </summary>
    /// <exception cref="EngineDeadException">The engine is dead (crashed fault); nothing was admitted.</exception>
    /// <exception cref="ArgumentException">
    /// Thrown at the call, before anything is admitted: the prompt is empty, <see cref="EngineRequest.MaxTokens"/>
    /// is below 1, or the prompt needs more KV-cache blocks than the whole cache has.
    /// </exception>
    IAsyncEnumerable<StepOutput> GenerateAsync(EngineRequest request, CancellationToken cancellationToken);

    /// <summary>True once <see cref="MarkDead"/> was called: nothing is admitted any more.</summary>
    bool IsDead { get; }

    /// <summary>
    /// Kills the engine (the crash fault): every request in flight ends with <see cref="EngineDeadException"/>,
    /// later calls of <see cref="GenerateAsync"/> throw it. Idempotent.
    /// </summary>
    void MarkDead();

    /// <summary>Writes every vLLM metric in the Prometheus text exposition format (version 0.0.4).</summary>
    void WriteMetrics(TextWriter writer);

    /// <summary>A point-in-time view for tests, the admin API and logs.</summary>
    EngineSnapshot Snapshot();
}

/// <summary>A validated, tokenized request.</summary>
internal sealed record EngineRequest
{
    /// <summary>"chatcmpl-..." or "cmpl-..." id; also used in logs.</summary>
    public required string RequestId { get; init; }

    /// <summary>The rendered prompt (chat template applied), used to decide its kind (code or prose).</summary>
    public required string PromptText { get; init; }

    /// <summary>Prompt token ids from <see cref="Text.ISimTokenizer"/>; their count is usage.prompt_tokens.</summary>
    public required int[] PromptTokenIds { get; init; }

    /// <summary>Tokens to generate at most (already bounded by max_model_len - prompt tokens).</summary>
    public required int MaxTokens { get; init; }

    /// <summary>Minimum tokens before a stop string or EOS may end the generation.</summary>
    public int MinTokens { get; init; }

    /// <summary>Stop strings; generation ends before the first occurrence (unless <see cref="IncludeStopStrInOutput"/>).</summary>
    public IReadOnlyList<string> Stop { get; init; } = [];

    public bool IncludeStopStrInOutput { get; init; }

    /// <summary>Never end at the natural end of a response; only max_tokens or a stop string ends it.</summary>
    public bool IgnoreEos { get; init; }

    /// <summary>Sampling seed: the same seed and prompt give the same output. Null: a fresh random seed.</summary>
    public long? Seed { get; init; }

    /// <summary>0 = greedy (deterministic without a seed too).</summary>
    public double Temperature { get; init; } = 1.0;

    public double TopP { get; init; } = 1.0;

    /// <summary>Number of top logprobs wanted per token (null: none; 0: only the sampled token's).</summary>
    public int? Logprobs { get; init; }

    /// <summary>When the HTTP request arrived (for e2e latency and queue time).</summary>
    public required DateTimeOffset ArrivalTime { get; init; }
}

/// <summary>Why a sequence ended, with vLLM's names.</summary>
internal enum FinishReason
{
    /// <summary>EOS or a stop string.</summary>
    Stop,

    /// <summary>max_tokens or max_model_len.</summary>
    Length,

    /// <summary>The client went away or cancelled.</summary>
    Abort,
}

/// <summary>One token with its text and (when asked) logprobs.</summary>
internal readonly record struct GeneratedToken(int TokenId, string Text, float Logprob, IReadOnlyList<TopLogprob>? TopLogprobs);

internal readonly record struct TopLogprob(int TokenId, string Text, float Logprob);

/// <summary>
/// What one engine step produced for one request: with speculative decoding several tokens at once.
/// <see cref="Text"/> is the concatenation of the tokens' text after stop-string handling.
/// </summary>
internal sealed record StepOutput
{
    public required IReadOnlyList<GeneratedToken> Tokens { get; init; }

    public required string Text { get; init; }

    /// <summary>Set on the last output of a request.</summary>
    public FinishReason? FinishReason { get; init; }

    /// <summary>The stop string that ended it (vLLM's stop_reason), when one did.</summary>
    public string? StopReason { get; init; }

    /// <summary>Prompt tokens (constant for the request).</summary>
    public required int PromptTokens { get; init; }

    /// <summary>Tokens generated so far, this step included.</summary>
    public required int CompletionTokens { get; init; }

    /// <summary>Prompt tokens that were served from the prefix cache (known from the first output on).</summary>
    public required int CachedPromptTokens { get; init; }
}

/// <summary>Thrown when a request reaches a dead engine.</summary>
internal sealed class EngineDeadException() : Exception("The engine is dead.");

/// <summary>A point-in-time view of the engine.</summary>
internal sealed record EngineSnapshot(
    int Running,
    int Waiting,
    int TotalBlocks,
    int UsableBlocks,
    int UsedBlocks,
    double KvCacheUsage,
    long PreemptionsTotal,
    long PromptTokensTotal,
    long GenerationTokensTotal,
    long StepsTotal,
    bool Dead);
