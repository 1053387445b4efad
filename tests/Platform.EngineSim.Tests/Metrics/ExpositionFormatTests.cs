using System.Text;
using Platform.EngineSim.Engine;
using Platform.EngineSim.Metrics;
using Platform.EngineSim.Tests.Engine;

namespace Platform.EngineSim.Tests.Metrics;

public sealed class ExpositionFormatTests
{
    private static readonly string[] RequiredFamilies =
    [
        "vllm:num_requests_running", "vllm:num_requests_waiting", "vllm:kv_cache_usage_perc",
        "vllm:prefix_cache_queries_total", "vllm:prefix_cache_hits_total", "vllm:num_preemptions_total",
        "vllm:prompt_tokens_total", "vllm:generation_tokens_total", "vllm:request_success_total",
        "vllm:request_prompt_tokens", "vllm:request_generation_tokens", "vllm:iteration_tokens_total",
        "vllm:request_params_max_tokens", "vllm:time_to_first_token_seconds", "vllm:inter_token_latency_seconds",
        "vllm:e2e_request_latency_seconds", "vllm:request_queue_time_seconds", "vllm:request_inference_time_seconds",
        "vllm:request_prefill_time_seconds", "vllm:request_decode_time_seconds", "vllm:cache_config_info",
        "vllm:time_per_output_token_seconds", "vllm:request_max_num_generation_tokens", "vllm:request_params_n",
        "vllm:spec_decode_num_drafts_total", "vllm:spec_decode_num_draft_tokens_total",
        "vllm:spec_decode_num_accepted_tokens_total", "vllm:spec_decode_num_accepted_tokens_per_pos_total",
    ];

    [Fact]
    public async Task Exposition_AfterTraffic_ParsesStrictlyWithCreatedSeriesAndConsistentHistograms()
    {
        var speculative = new SpeculativeConfig { Method = "draft_model", NumSpeculativeTokens = 3, DraftKind = PromptKind.General };
        using var harness = new EngineHarness(EngineHarness.CreateOptions(speculative: speculative));
        var runs = Enumerable.Range(0, 6).Select(i => harness.Start(harness.Request(KvCacheTests.LongPrompt(i), maxTokens: 40 + (i * 30)))).ToList();
        harness.RunToIdle();
        foreach (var run in runs)
        {
            await run.FinishedAsync();
        }

        var text = harness.Metrics();
        var parsed = PrometheusParser.Parse(text);

        foreach (var name in RequiredFamilies)
        {
            Assert.NotNull(parsed.Family(name));
        }

        foreach (var family in parsed.Families)
        {
            Assert.StartsWith("vllm:", family.Name, StringComparison.Ordinal);
            if (family.Type == "counter")
            {
                Assert.EndsWith("_total", family.Name, StringComparison.Ordinal);
                var created = parsed.Family(family.Name[..^"_total".Length] + "_created");
                Assert.NotNull(created);
                Assert.Equal("gauge", created!.Type);
                Assert.Equal(family.Samples.Select(s => s.LabelText), created.Samples.Select(s => s.LabelText));
            }

            if (family.Type == "histogram")
            {
                var created = parsed.Family(family.Name + "_created");
                Assert.NotNull(created);
                AssertHistogramConsistent(family);
            }

            foreach (var sample in family.Samples.Where(s => !s.Name.StartsWith("vllm:cache_config_info", StringComparison.Ordinal)))
            {
                Assert.Equal(harness.Options.PrimaryModelName, sample.Labels["model_name"]);
                Assert.Equal("0", sample.Labels["engine"]);
            }
        }

        // Labels are sorted by name, as prometheus_client writes them.
        Assert.Contains("vllm:request_success_total{engine=\"0\",finished_reason=\"length\",model_name=\"llama-3.1-8b-instruct\"} 6.0\n", text, StringComparison.Ordinal);
        Assert.Contains("vllm:e2e_request_latency_seconds_bucket{engine=\"0\",le=\"+Inf\",model_name=\"llama-3.1-8b-instruct\"} 6.0\n", text, StringComparison.Ordinal);
        Assert.Contains("# HELP vllm:num_preemptions_total Cumulative number of preemption from the engine.\n# TYPE vllm:num_preemptions_total counter\n", text, StringComparison.Ordinal);
        Assert.Contains("# TYPE vllm:num_preemptions_created gauge\n", text, StringComparison.Ordinal);

        var info = parsed.Find("vllm:cache_config_info").Single();
        Assert.Equal("16", info.Labels["block_size"]);
        Assert.Equal("2048", info.Labels["num_gpu_blocks"]);
        Assert.Equal("True", info.Labels["enable_prefix_caching"]);
        Assert.Equal(1.0, info.Value);

        Assert.Equal(["0", "1", "2"], parsed.Find("vllm:spec_decode_num_accepted_tokens_per_pos_total").Select(s => s.Labels["position"]));
    }

    [Fact]
    public void Exposition_Idle_HasEveryFinishReasonAtZero()
    {
        using var harness = new EngineHarness();
        var parsed = PrometheusParser.Parse(harness.Metrics());
        Assert.Equal(["stop", "length", "abort"], parsed.Find("vllm:request_success_total").Select(s => s.Labels["finished_reason"]));
        Assert.All(parsed.Find("vllm:request_success_total"), s => Assert.Equal("0.0", s.ValueText));
        Assert.All(parsed.Families.Where(f => f.Type == "histogram"), AssertHistogramConsistent);
    }

    [Fact]
    public void TokenBuckets_FollowVllmOneTwoFive() =>
        Assert.Equal([1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 10000, 20000], VllmMetrics.Build125Buckets(32768));

    [Theory]
    [InlineData(0.0, "0.0")]
    [InlineData(1.0, "1.0")]
    [InlineData(-2.5, "-2.5")]
    [InlineData(0.5, "0.5")]
    [InlineData(0.001, "0.001")]
    [InlineData(0.0001, "0.0001")]
    [InlineData(0.00001, "1e-05")]
    [InlineData(123.456, "123.456")]
    [InlineData(2560.0, "2560.0")]
    [InlineData(100000.0, "100000.0")]
    [InlineData(999999.0, "999999.0")]
    [InlineData(1000000.0, "1e+06")]
    [InlineData(1234567.0, "1.234567e+06")]
    [InlineData(12345678.9, "1.23456789e+07")]
    [InlineData(1776930173.6864316, "1.7769301736864316e+09")]
    [InlineData(1e15, "1e+015")]
    [InlineData(1e16, "1e+16")]
    [InlineData(1.5e16, "1.5e+16")]
    [InlineData(double.PositiveInfinity, "+Inf")]
    [InlineData(double.NegativeInfinity, "-Inf")]
    [InlineData(double.NaN, "NaN")]
    public void AppendValue_RendersLikePrometheusClientFloatToGoString(double value, string expected)
    {
        var sb = new StringBuilder();
        PrometheusText.AppendValue(sb, value);
        Assert.Equal(expected, sb.ToString());
    }

    private static void AssertHistogramConsistent(MetricFamilyText family)
    {
        foreach (var group in family.Samples.GroupBy(s => string.Join(",", s.Labels.Where(l => l.Key != "le").OrderBy(l => l.Key).Select(l => l.Key + "=" + l.Value))))
        {
            var buckets = group.Where(s => s.Name == family.Name + "_bucket").ToList();
            Assert.NotEmpty(buckets);
            Assert.Equal("+Inf", buckets[^1].Labels["le"]);
            for (var i = 1; i < buckets.Count; i++)
            {
                Assert.True(buckets[i].Value >= buckets[i - 1].Value, $"{family.Name}: buckets must be cumulative");
                Assert.True(double.Parse(buckets[i].Labels["le"] == "+Inf" ? "Infinity" : buckets[i].Labels["le"], System.Globalization.CultureInfo.InvariantCulture)
                    > double.Parse(buckets[i - 1].Labels["le"], System.Globalization.CultureInfo.InvariantCulture));
            }

            var count = group.Single(s => s.Name == family.Name + "_count");
            Assert.Equal(buckets[^1].Value, count.Value);
            Assert.Single(group, s => s.Name == family.Name + "_sum");
        }
    }
}
