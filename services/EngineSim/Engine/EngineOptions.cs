namespace Platform.EngineSim.Engine;

/// <summary>
/// The engine's configuration, parsed from vLLM's command line (Cli/) and validated there. Defaults follow
/// vLLM V1 serving Llama-3.1-8B-Instruct on one 80 GB GPU; the latency model is in <see cref="LatencyModel"/>.
/// </summary>
internal sealed record EngineOptions
{
    /// <summary>--model: the model path or name.</summary>
    public required string Model { get; init; }

    /// <summary>--served-model-name: names clients may use (the first one is reported); default [Model].</summary>
    public required IReadOnlyList<string> ServedModelNames { get; init; }

    /// <summary>--max-num-seqs: sequences in the running batch at most.</summary>
    public int MaxNumSeqs { get; init; } = 256;

    /// <summary>--max-model-len: prompt + completion tokens at most.</summary>
    public int MaxModelLen { get; init; } = 32768;

    /// <summary>--max-num-batched-tokens: tokens (prefill chunks + decodes) per step at most.</summary>
    public int MaxNumBatchedTokens { get; init; } = 8192;

    /// <summary>--block-size: tokens per KV-cache block.</summary>
    public int BlockSize { get; init; } = 16;

    /// <summary>--num-gpu-blocks-override, else what an 80 GB GPU leaves for an 8B model's KV cache.</summary>
    public int NumGpuBlocks { get; init; } = 27_000;

    /// <summary>--enable-prefix-caching / --no-enable-prefix-caching (on by default in vLLM V1).</summary>
    public bool EnablePrefixCaching { get; init; } = true;

    /// <summary>--speculative-config; null when speculative decoding is off.</summary>
    public SpeculativeConfig? Speculative { get; init; }

    /// <summary>--api-key: when set, /v1/* requires "Authorization: Bearer KEY".</summary>
    public string? ApiKey { get; init; }

    /// <summary>--host and --port.</summary>
    public string Host { get; init; } = "0.0.0.0";

    public int Port { get; init; } = 8000;

    /// <summary>--sim-seed: seeds everything random in the engine (acceptance draws, fault draws).</summary>
    public long SimSeed { get; init; } = 42;

    /// <summary>--sim-* latency parameters.</summary>
    public LatencyModel Latency { get; init; } = new();

    /// <summary>The value of the "engine" label on every metric (vLLM: the data-parallel rank).</summary>
    public string EngineLabel { get; init; } = "0";

    /// <summary>The name reported first by /v1/models and on the model_name label.</summary>
    public string PrimaryModelName => ServedModelNames[0];
}

/// <summary>vLLM's --speculative-config JSON: {"method": "draft_model", "model": ..., "num_speculative_tokens": N}.</summary>
internal sealed record SpeculativeConfig
{
    /// <summary>"draft_model" (also accepted: "ngram", "eagle", "eagle3", "mtp", "medusa"; all simulated alike).</summary>
    public required string Method { get; init; }

    /// <summary>The draft model; its name decides its kind unless <see cref="DraftKind"/> is given.</summary>
    public string? Model { get; init; }

    /// <summary>num_speculative_tokens: draft tokens proposed per step, 1 to 16.</summary>
    public required int NumSpeculativeTokens { get; init; }

    /// <summary>What the draft was tuned on: a code-tuned draft accepts more tokens on code prompts.</summary>
    public required PromptKind DraftKind { get; init; }

    /// <summary>Per-token acceptance probability when the prompt's kind matches the draft's (--sim-acceptance-match).</summary>
    public double AcceptanceMatched { get; init; } = 0.80;

    /// <summary>Per-token acceptance probability when it does not (--sim-acceptance-mismatch).</summary>
    public double AcceptanceMismatched { get; init; } = 0.45;
}

/// <summary>The kind of text a prompt asks for, as the simulator sees it.</summary>
internal enum PromptKind
{
    General,
    Code,
}

/// <summary>
/// The step-time model (see the README's "Engine model" section for the calibration and its sources). One
/// step runs the prefill chunks of newly scheduled sequences and one decode (or one verification of the
/// drafts) of every running sequence; decoding an 8B model is bound by memory bandwidth, so a step costs the
/// weights read once, plus the KV cache read for every running sequence's context, plus prefill compute:
/// <code>
/// step = (DecodeBaseMs
///         + DecodePerSeqMs * decodes + DecodePerKvTokenMs * context tokens of the decodes
///         + PrefillPerTokenMs * uncached prefill tokens
///         + SpecDraftStepMs * k + SpecPerDraftTokenMs * decodes * k) * slowdown
///        (+ a latency spike, when one is drawn) / Speedup
/// </code>
/// Defaults: Llama-3.1-8B-Instruct in BF16 on one H100 80GB under vLLM V1.
/// </summary>
internal sealed record LatencyModel
{
    /// <summary>--sim-decode-base-ms: a decode step of one sequence (16 GB of weights read once per step).</summary>
    public double DecodeBaseMs { get; init; } = 6.5;

    /// <summary>--sim-decode-per-seq-ms: added per sequence in the batch (sampling, activations).</summary>
    public double DecodePerSeqMs { get; init; } = 0.03;

    /// <summary>Added per token of context of every decoding sequence: reading its KV cache (128 KiB per token).</summary>
    public double DecodePerKvTokenMs { get; init; } = 0.00004;

    /// <summary>--sim-prefill-per-token-ms: per uncached prompt token (about 20,000 prefill tokens per second).</summary>
    public double PrefillPerTokenMs { get; init; } = 0.05;

    /// <summary>One forward pass of the draft model per proposed position, per step (a 1B draft).</summary>
    public double SpecDraftStepMs { get; init; } = 1.0;

    /// <summary>--sim-spec-per-draft-token-ms: verifying one proposed token of one sequence.</summary>
    public double SpecPerDraftTokenMs { get; init; } = 0.02;

    /// <summary>--sim-speedup: divides every step time (benchmarks of the control plane run faster than a GPU).</summary>
    public double Speedup { get; init; } = 1.0;
}
