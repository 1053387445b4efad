namespace Platform.HealthScorer.Scraping;

/// <summary>
/// The vLLM series the scorer reads, both metric generations. Sample names match exactly, so a counter's
/// <c>_created</c> series (a Unix time) or another family sharing a prefix is never read as one of these.
/// </summary>
internal enum VllmSeries : byte
{
    Running,
    Waiting,

    /// <summary>vllm:kv_cache_usage_perc (V1).</summary>
    KvCacheUsage,

    /// <summary>vllm:gpu_cache_usage_perc (older engines; hidden in 0.11 unless asked for).</summary>
    GpuCacheUsage,
    Preemptions,
    GenerationTokens,
    PromptTokens,
    PrefixCacheQueries,
    PrefixCacheHits,
    GpuPrefixCacheQueries,
    GpuPrefixCacheHits,

    /// <summary>vllm:gpu_prefix_cache_hit_rate: the V0 engine's gauge (-1 before any query).</summary>
    GpuPrefixCacheHitRate,
    SpecDecodeDrafts,
    SpecDecodeDraftTokens,
    SpecDecodeAcceptedTokens,
    TimeToFirstToken,
    InterTokenLatency,

    /// <summary>vllm:time_per_output_token_seconds: what engines before inter_token_latency_seconds served.</summary>
    TimePerOutputToken,
}

/// <summary>How the samples of one series (several <c>engine</c> labels under data parallelism) combine.</summary>
internal enum Aggregation : byte
{
    /// <summary>Counts add up across data-parallel ranks.</summary>
    Sum,

    /// <summary>Fractions do not add up: the fullest rank is the one that preempts.</summary>
    Max,

    /// <summary>Bucket counts add up per upper bound.</summary>
    Histogram,
}

internal static class VllmSeriesInfo
{
    public const int Count = (int)VllmSeries.TimePerOutputToken + 1;

    private static readonly byte[][] Names =
    [
        "vllm:num_requests_running"u8.ToArray(),
        "vllm:num_requests_waiting"u8.ToArray(),
        "vllm:kv_cache_usage_perc"u8.ToArray(),
        "vllm:gpu_cache_usage_perc"u8.ToArray(),
        "vllm:num_preemptions_total"u8.ToArray(),
        "vllm:generation_tokens_total"u8.ToArray(),
        "vllm:prompt_tokens_total"u8.ToArray(),
        "vllm:prefix_cache_queries_total"u8.ToArray(),
        "vllm:prefix_cache_hits_total"u8.ToArray(),
        "vllm:gpu_prefix_cache_queries_total"u8.ToArray(),
        "vllm:gpu_prefix_cache_hits_total"u8.ToArray(),
        "vllm:gpu_prefix_cache_hit_rate"u8.ToArray(),
        "vllm:spec_decode_num_drafts_total"u8.ToArray(),
        "vllm:spec_decode_num_draft_tokens_total"u8.ToArray(),
        "vllm:spec_decode_num_accepted_tokens_total"u8.ToArray(),
        "vllm:time_to_first_token_seconds_bucket"u8.ToArray(),
        "vllm:inter_token_latency_seconds_bucket"u8.ToArray(),
        "vllm:time_per_output_token_seconds_bucket"u8.ToArray(),
    ];

    private static readonly string[] DisplayNames =
    [
        "vllm:num_requests_running",
        "vllm:num_requests_waiting",
        "vllm:kv_cache_usage_perc",
        "vllm:gpu_cache_usage_perc",
        "vllm:num_preemptions_total",
        "vllm:generation_tokens_total",
        "vllm:prompt_tokens_total",
        "vllm:prefix_cache_queries_total",
        "vllm:prefix_cache_hits_total",
        "vllm:gpu_prefix_cache_queries_total",
        "vllm:gpu_prefix_cache_hits_total",
        "vllm:gpu_prefix_cache_hit_rate",
        "vllm:spec_decode_num_drafts_total",
        "vllm:spec_decode_num_draft_tokens_total",
        "vllm:spec_decode_num_accepted_tokens_total",
        "vllm:time_to_first_token_seconds",
        "vllm:inter_token_latency_seconds",
        "vllm:time_per_output_token_seconds",
    ];

    /// <summary>The series a sample name is, or null. Every vLLM name starts with "vllm:", so others are refused at once.</summary>
    public static VllmSeries? Identify(ReadOnlySpan<byte> name)
    {
        if (name.Length < 24 || !name.StartsWith("vllm:"u8))
        {
            return null;
        }

        var names = Names;
        for (var i = 0; i < names.Length; i++)
        {
            if (name.SequenceEqual(names[i]))
            {
                return (VllmSeries)i;
            }
        }

        return null;
    }

    /// <summary>The family name as operators know it (histograms without <c>_bucket</c>).</summary>
    public static string Name(VllmSeries series) => DisplayNames[(int)series];

    public static Aggregation AggregationOf(VllmSeries series) => series switch
    {
        VllmSeries.KvCacheUsage or VllmSeries.GpuCacheUsage or VllmSeries.GpuPrefixCacheHitRate => Aggregation.Max,
        VllmSeries.TimeToFirstToken or VllmSeries.InterTokenLatency or VllmSeries.TimePerOutputToken => Aggregation.Histogram,
        _ => Aggregation.Sum,
    };

    public static bool IsCounter(VllmSeries series) => AggregationOf(series) == Aggregation.Sum
        && series is not (VllmSeries.Running or VllmSeries.Waiting);
}
