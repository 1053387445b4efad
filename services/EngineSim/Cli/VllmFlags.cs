using System.Collections.Frozen;

namespace Platform.EngineSim.Cli;

/// <summary>
/// The <c>vllm serve</c> flags EngineSim accepts without modelling them. Whether a flag takes a value matters:
/// a boolean flag followed by the next flag must not swallow it. Flags missing from both lists are still
/// accepted (vLLM has hundreds); they take the next argument as their value when it is not itself a flag.
/// </summary>
internal static class VllmFlags
{
    /// <summary>store_true / BooleanOptionalAction flags (each also accepted as --no-NAME).</summary>
    public static readonly FrozenSet<string> Boolean = Set(
    [
        "--trust-remote-code", "--enforce-eager", "--disable-log-requests", "--enable-log-requests",
        "--disable-log-stats", "--disable-custom-all-reduce", "--enable-chunked-prefill", "--enable-lora",
        "--enable-lora-bias", "--fully-sharded-loras", "--enable-auto-tool-choice", "--disable-fastapi-docs",
        "--enable-prompt-tokens-details", "--enable-server-load-tracking", "--enable-request-id-headers",
        "--disable-frontend-multiprocessing", "--enable-force-include-usage", "--return-tokens-as-token-ids",
        "--disable-uvicorn-access-log", "--enable-sleep-mode", "--skip-tokenizer-init", "--enable-expert-parallel",
        "--async-scheduling", "--disable-cascade-attn", "--enable-eplb", "--enable-dbo", "--headless",
        "--disable-sliding-window", "--disable-async-output-proc", "--enable-tokenizer-info-endpoint",
        "--enable-log-outputs", "--worker-use-ray", "--ray-workers-use-nsight", "--disable-mm-preprocessor-cache",
        "--enable-multimodal-encoder-data-parallel", "--disable-hybrid-kv-cache-manager", "--calculate-kv-scales",
        "--enable-reasoning", "--log-error-stack", "--enable-prompt-embeds", "--disable-chunked-mm-input",
        "--enable-ssl-refresh", "--exclude-tools-when-tool-choice-none", "--use-tqdm-on-load",
        "--enable-mfu-metrics", "--kv-sharing-fast-prefill", "--enable-prompt-adapter", "--multi-step-stream-outputs",
        "--show-hidden-metrics-for-version", "--trust-request-chat-template", "--enable-return-routed-experts",
    ]);

    /// <summary>Flags that take one value (or, for a few, several: see <see cref="MultiValued"/>).</summary>
    public static readonly FrozenSet<string> Valued = Set(
    [
        "--tensor-parallel-size", "--pipeline-parallel-size", "--data-parallel-size", "--data-parallel-size-local",
        "--data-parallel-address", "--data-parallel-rpc-port", "--data-parallel-start-rank", "--api-server-count",
        "--decode-context-parallel-size", "--gpu-memory-utilization", "--dtype", "--seed", "--max-logprobs",
        "--tokenizer", "--tokenizer-mode", "--revision", "--tokenizer-revision", "--code-revision", "--download-dir",
        "--load-format", "--quantization", "--kv-cache-dtype", "--swap-space", "--cpu-offload-gb",
        "--max-num-partial-prefills", "--max-long-partial-prefills", "--long-prefill-token-threshold",
        "--max-seq-len-to-capture", "--max-cudagraph-capture-size", "--chat-template", "--chat-template-content-format",
        "--response-role", "--tool-call-parser", "--tool-parser-plugin", "--reasoning-parser",
        "--reasoning-parser-plugin", "--max-lora-rank", "--max-loras", "--max-cpu-loras", "--lora-dtype",
        "--uvicorn-log-level", "--root-path", "--ssl-keyfile", "--ssl-certfile", "--ssl-ca-certs", "--ssl-cert-reqs",
        "--distributed-executor-backend", "--hf-overrides", "--override-generation-config", "--generation-config",
        "--compilation-config", "--kv-transfer-config", "--kv-events-config", "--limit-mm-per-prompt",
        "--mm-processor-kwargs", "--config", "--rope-scaling", "--rope-theta", "--max-parallel-loading-workers",
        "--scheduling-policy", "--preemption-mode", "--guided-decoding-backend", "--structured-outputs-config",
        "--hf-config-path", "--uds", "--log-config-file", "--max-log-len", "--prefix-caching-hash-algo",
        "--logits-processor-pattern", "--otlp-traces-endpoint", "--collect-detailed-traces", "--model-impl",
        "--num-lookahead-slots", "--default-chat-template-kwargs", "--task", "--runner", "--convert",
        "--h11-max-incomplete-event-size", "--h11-max-header-count", "--num-scheduler-steps", "--scheduler-cls",
        "--worker-cls", "--worker-extension-cls", "--pooler-config", "--override-pooler-config",
        "--logits-processors", "--mm-encoder-tp-mode", "--io-processor-plugin", "--device", "--additional-config",
        "--safetensors-load-strategy", "--tool-server", "--expert-placement-strategy", "--eplb-config",
        "--num-redundant-experts", "--max-model-len-override", "--disable-access-log-for-endpoints",
        "--max-waiting-queue-length", "--enable-log-requests-level", "--lora-extra-vocab-size",
        "--long-lora-scaling-factors", "--max-prompt-adapters", "--max-prompt-adapter-token",
        "--allowed-local-media-path", "--allowed-media-domains", "--media-io-kwargs", "--mm-processor-cache-gb",
        "--mm-processor-cache-type", "--stream-interval",
    ]);

    /// <summary>nargs="+" flags: every following argument up to the next flag is theirs.</summary>
    public static readonly FrozenSet<string> MultiValued = Set(
    [
        "--lora-modules", "--allowed-origins", "--allowed-methods", "--allowed-headers", "--middleware",
        "--cuda-graph-sizes", "--ignore-patterns", "--prompt-adapters",
    ]);

    /// <summary>argparse's short aliases, all of which take a value (-O3 may be written glued).</summary>
    public static readonly FrozenSet<string> ShortValued = Set(["-tp", "-pp", "-dp", "-dcp", "-q", "-O", "-dpl", "-dpa", "-dpr"]);

    private static FrozenSet<string> Set(string[] flags) => flags.ToFrozenSet(StringComparer.Ordinal);
}
