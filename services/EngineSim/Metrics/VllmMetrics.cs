using System.Globalization;
using System.Text;
using Platform.EngineSim.Engine;

namespace Platform.EngineSim.Metrics;

/// <summary>
/// vLLM V1's Prometheus metrics as vLLM 0.11 serves them (PrometheusStatLogger in vllm/v1/metrics/loggers.py
/// and SpecDecodingProm in vllm/v1/spec_decode/metrics.py; /version says 0.11.0): the same names, types, help
/// texts, label names (<c>model_name</c>, <c>engine</c>), buckets and family order, rendered as
/// prometheus_client renders them. Families 0.11 hides unless --show-hidden-metrics-for-version is given
/// (gpu_cache_usage_perc, gpu_prefix_cache_*) are not served; time_per_output_token_seconds, deprecated in
/// 0.11 but still served, is.
/// <para>
/// Thread-safety: writers hold <see cref="Sync"/> while they update (the engine takes it once per step);
/// rendering takes it too, so a scrape sees one consistent step (+Inf always equals _count).
/// </para>
/// </summary>
internal sealed class VllmMetrics
{
    private static readonly double[] IterationTokenBuckets = [1, 8, 16, 32, 64, 128, 256, 512, 1024, 2048, 4096, 8192, 16384];

    private static readonly double[] RequestParamsNBuckets = [1, 2, 5, 10, 20];

    private static readonly double[] TimeToFirstTokenBuckets =
    [
        0.001, 0.005, 0.01, 0.02, 0.04, 0.06, 0.08, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0, 20.0, 40.0, 80.0,
        160.0, 640.0, 2560.0,
    ];

    private static readonly double[] InterTokenLatencyBuckets =
    [
        0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.2, 0.3, 0.4, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0, 20.0, 40.0, 80.0,
    ];

    private static readonly double[] RequestLatencyBuckets =
    [
        0.3, 0.5, 0.8, 1.0, 1.5, 2.0, 2.5, 5.0, 10.0, 15.0, 20.0, 30.0, 40.0, 50.0, 60.0, 120.0, 240.0, 480.0, 960.0,
        1920.0, 7680.0,
    ];

    private readonly List<MetricFamily> _families = [];
    private readonly Lock _renderGate = new();
    private readonly StringBuilder _render = new(64 * 1024);
    private readonly Dictionary<FinishReason, Counter> _requestSuccess = [];

    public VllmMetrics(EngineOptions options, DateTimeOffset createdAt)
    {
        var created = (createdAt.UtcTicks - DateTimeOffset.UnixEpoch.UtcTicks) / (double)TimeSpan.TicksPerSecond;
        var modelName = options.PrimaryModelName;
        var engine = options.EngineLabel;
        var labels = PrometheusText.Labels(("model_name", modelName), ("engine", engine));
        (string, string)[] labelPairs = [("model_name", modelName), ("engine", engine)];

        if (options.Speculative is { } speculative)
        {
            SpecDecodeNumDrafts = AddCounter("vllm:spec_decode_num_drafts", "Number of spec decoding drafts.", created).Child(labels);
            SpecDecodeNumDraftTokens = AddCounter("vllm:spec_decode_num_draft_tokens", "Number of draft tokens.", created).Child(labels);
            SpecDecodeNumAcceptedTokens = AddCounter("vllm:spec_decode_num_accepted_tokens", "Number of accepted tokens.", created).Child(labels);
            var perPos = AddCounter("vllm:spec_decode_num_accepted_tokens_per_pos", "Accepted tokens per draft position.", created);
            SpecDecodeNumAcceptedTokensPerPos = new Counter[speculative.NumSpeculativeTokens];
            for (var pos = 0; pos < speculative.NumSpeculativeTokens; pos++)
            {
                var position = pos.ToString(CultureInfo.InvariantCulture);
                SpecDecodeNumAcceptedTokensPerPos[pos] = perPos.Child(PrometheusText.Labels(("model_name", modelName), ("engine", engine), ("position", position)));
            }
        }

        NumRequestsRunning = AddGauge("vllm:num_requests_running", "Number of requests in model execution batches.").Child(labels);
        NumRequestsWaiting = AddGauge("vllm:num_requests_waiting", "Number of requests waiting to be processed.").Child(labels);
        KvCacheUsagePerc = AddGauge("vllm:kv_cache_usage_perc", "KV-cache usage. 1 means 100 percent usage.").Child(labels);

        PrefixCacheQueries = AddCounter("vllm:prefix_cache_queries", "Prefix cache queries, in terms of number of queried tokens.", created).Child(labels);
        PrefixCacheHits = AddCounter("vllm:prefix_cache_hits", "Prefix cache hits, in terms of number of cached tokens.", created).Child(labels);

        NumPreemptions = AddCounter("vllm:num_preemptions", "Cumulative number of preemption from the engine.", created).Child(labels);
        PromptTokens = AddCounter("vllm:prompt_tokens", "Number of prefill tokens processed.", created).Child(labels);
        GenerationTokens = AddCounter("vllm:generation_tokens", "Number of generation tokens processed.", created).Child(labels);
        var success = AddCounter("vllm:request_success", "Count of successfully processed requests.", created);
        foreach (var reason in FinishedReasons)
        {
            _requestSuccess[reason.Reason] = success.Child(PrometheusText.Labels(("model_name", modelName), ("engine", engine), ("finished_reason", reason.Label)));
        }

        var tokenBuckets = Build125Buckets(options.MaxModelLen);
        RequestPromptTokens = AddHistogram("vllm:request_prompt_tokens", "Number of prefill tokens processed.", tokenBuckets, created).Child(labelPairs);
        RequestGenerationTokens = AddHistogram("vllm:request_generation_tokens", "Number of generation tokens processed.", tokenBuckets, created).Child(labelPairs);
        IterationTokens = AddHistogram("vllm:iteration_tokens_total", "Histogram of number of tokens per engine_step.", IterationTokenBuckets, created).Child(labelPairs);
        RequestMaxNumGenerationTokens = AddHistogram(
            "vllm:request_max_num_generation_tokens", "Histogram of maximum number of requested generation tokens.", tokenBuckets, created).Child(labelPairs);
        RequestParamsN = AddHistogram("vllm:request_params_n", "Histogram of the n request parameter.", RequestParamsNBuckets, created).Child(labelPairs);
        RequestParamsMaxTokens = AddHistogram(
            "vllm:request_params_max_tokens", "Histogram of the max_tokens request parameter.", tokenBuckets, created).Child(labelPairs);
        TimeToFirstToken = AddHistogram(
            "vllm:time_to_first_token_seconds", "Histogram of time to first token in seconds.", TimeToFirstTokenBuckets, created).Child(labelPairs);
        TimePerOutputToken = AddHistogram(
            "vllm:time_per_output_token_seconds",
            "Histogram of time per output token in seconds.DEPRECATED: Use vllm:inter_token_latency_seconds instead.",
            InterTokenLatencyBuckets,
            created).Child(labelPairs);
        InterTokenLatency = AddHistogram(
            "vllm:inter_token_latency_seconds", "Histogram of inter-token latency in seconds.", InterTokenLatencyBuckets, created).Child(labelPairs);
        E2eRequestLatency = AddHistogram(
            "vllm:e2e_request_latency_seconds", "Histogram of e2e request latency in seconds.", RequestLatencyBuckets, created).Child(labelPairs);
        RequestQueueTime = AddHistogram(
            "vllm:request_queue_time_seconds", "Histogram of time spent in WAITING phase for request.", RequestLatencyBuckets, created).Child(labelPairs);
        RequestInferenceTime = AddHistogram(
            "vllm:request_inference_time_seconds", "Histogram of time spent in RUNNING phase for request.", RequestLatencyBuckets, created).Child(labelPairs);
        RequestPrefillTime = AddHistogram(
            "vllm:request_prefill_time_seconds", "Histogram of time spent in PREFILL phase for request.", RequestLatencyBuckets, created).Child(labelPairs);
        RequestDecodeTime = AddHistogram(
            "vllm:request_decode_time_seconds", "Histogram of time spent in DECODE phase for request.", RequestLatencyBuckets, created).Child(labelPairs);

        // Registered at engine start (log_engine_initialized), hence last. An info-style gauge fixed at 1.
        var info = AddGauge("vllm:cache_config_info", "Information of the LLMEngine CacheConfig");
        info.Child(PrometheusText.Labels(
            ("block_size", options.BlockSize.ToString(CultureInfo.InvariantCulture)),
            ("cache_dtype", "auto"),
            ("calculate_kv_scales", "False"),
            ("cpu_offload_gb", "0"),
            ("enable_prefix_caching", options.EnablePrefixCaching ? "True" : "False"),
            ("engine", engine),
            ("gpu_memory_utilization", "0.9"),
            ("is_attention_free", "False"),
            ("num_cpu_blocks", "None"),
            ("num_gpu_blocks", options.NumGpuBlocks.ToString(CultureInfo.InvariantCulture)),
            ("num_gpu_blocks_override", "None"),
            ("prefix_caching_hash_algo", "sha256"),
            ("sliding_window", "None"),
            ("swap_space", "4"))).Value = 1;
    }

    /// <summary>vLLM 0.11's FinishReason values in enum order (FINISH_REASON_STRINGS).</summary>
    private static ReadOnlySpan<(string Label, FinishReason Reason)> FinishedReasons =>
        new (string, FinishReason)[] { ("stop", FinishReason.Stop), ("length", FinishReason.Length), ("abort", FinishReason.Abort) };

    /// <summary>Held by every writer for the duration of an update, and by rendering.</summary>
    public Lock Sync { get; } = new();

    public Gauge NumRequestsRunning { get; }

    public Gauge NumRequestsWaiting { get; }

    public Gauge KvCacheUsagePerc { get; }

    public Counter PrefixCacheQueries { get; }

    public Counter PrefixCacheHits { get; }

    public Counter NumPreemptions { get; }

    public Counter PromptTokens { get; }

    public Counter GenerationTokens { get; }

    public Counter? SpecDecodeNumDrafts { get; }

    public Counter? SpecDecodeNumDraftTokens { get; }

    public Counter? SpecDecodeNumAcceptedTokens { get; }

    public Counter[]? SpecDecodeNumAcceptedTokensPerPos { get; }

    public Histogram RequestPromptTokens { get; }

    public Histogram RequestGenerationTokens { get; }

    public Histogram IterationTokens { get; }

    public Histogram RequestMaxNumGenerationTokens { get; }

    public Histogram RequestParamsN { get; }

    public Histogram RequestParamsMaxTokens { get; }

    public Histogram TimeToFirstToken { get; }

    /// <summary>The deprecated alias of <see cref="InterTokenLatency"/>: observed with the same values.</summary>
    public Histogram TimePerOutputToken { get; }

    public Histogram InterTokenLatency { get; }

    public Histogram E2eRequestLatency { get; }

    public Histogram RequestQueueTime { get; }

    public Histogram RequestInferenceTime { get; }

    public Histogram RequestPrefillTime { get; }

    public Histogram RequestDecodeTime { get; }

    public Counter RequestSuccess(FinishReason reason) => _requestSuccess[reason];

    /// <summary>vLLM's build_1_2_5_buckets: 1, 2, 5, 10, 20, 50, ... up to <paramref name="max"/>.</summary>
    public static double[] Build125Buckets(int max)
    {
        var buckets = new List<double>();
        long scale = 1;
        while (true)
        {
            foreach (var mantissa in (ReadOnlySpan<long>)[1, 2, 5])
            {
                var value = mantissa * scale;
                if (value > max)
                {
                    return [.. buckets];
                }

                buckets.Add(value);
            }

            scale *= 10;
        }
    }

    /// <summary>Records what vLLM records when a request finishes (IterationStats.update_from_finished_request).</summary>
    public void RecordFinished(in FinishedRequestStats stats)
    {
        // Caller holds Sync.
        RequestSuccess(stats.Reason).Inc();
        E2eRequestLatency.Observe(stats.E2eSeconds);
        RequestQueueTime.Observe(stats.QueuedSeconds);
        RequestPrefillTime.Observe(stats.PrefillSeconds);
        RequestInferenceTime.Observe(stats.InferenceSeconds);
        RequestDecodeTime.Observe(stats.DecodeSeconds);
        RequestPromptTokens.Observe(stats.PromptTokens);
        RequestGenerationTokens.Observe(stats.GenerationTokens);

        if (stats.MaxTokensParam > 0)
        {
            RequestParamsMaxTokens.Observe(stats.MaxTokensParam);
        }

        // n = 1: the "parent" finishes with its only child.
        RequestMaxNumGenerationTokens.Observe(stats.GenerationTokens);
        RequestParamsN.Observe(1);
    }

    /// <summary>Renders every family into <paramref name="writer"/>.</summary>
    public void WriteTo(TextWriter writer)
    {
        lock (_renderGate)
        {
            _render.Clear();
            lock (Sync)
            {
                foreach (var family in _families)
                {
                    family.Render(_render);
                }
            }

            writer.Write(_render);
        }
    }

    public string Render()
    {
        using var writer = new StringWriter(CultureInfo.InvariantCulture);
        WriteTo(writer);
        return writer.ToString();
    }

    private CounterFamily AddCounter(string name, string help, double created)
    {
        var family = new CounterFamily(name, help, created);
        _families.Add(family);
        return family;
    }

    private GaugeFamily AddGauge(string name, string help)
    {
        var family = new GaugeFamily(name, help);
        _families.Add(family);
        return family;
    }

    private HistogramFamily AddHistogram(string name, string help, IReadOnlyList<double> buckets, double created)
    {
        var family = new HistogramFamily(name, help, buckets, created);
        _families.Add(family);
        return family;
    }
}

/// <summary>vLLM's FinishedRequestStats for a request that produced at least one token.</summary>
internal readonly record struct FinishedRequestStats(
    FinishReason Reason,
    double E2eSeconds,
    double QueuedSeconds,
    double PrefillSeconds,
    double DecodeSeconds,
    double InferenceSeconds,
    int PromptTokens,
    int GenerationTokens,
    int MaxTokensParam);
