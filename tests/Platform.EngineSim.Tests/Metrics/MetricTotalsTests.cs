using Platform.EngineSim.Engine;
using Platform.EngineSim.Tests.Engine;

namespace Platform.EngineSim.Tests.Metrics;

public sealed class MetricTotalsTests
{
    [Fact]
    public async Task Metrics_AfterMixedRequests_TotalsEqualWhatWasServed()
    {
        // Small cache and batch so some requests wait and get preempted: totals must still be exact.
        using var harness = new EngineHarness(EngineHarness.CreateOptions(blocks: 96, maxNumSeqs: 6, maxModelLen: 1536));
        var runs = new List<RequestRun>();
        for (var i = 0; i < 18; i++)
        {
            var request = (i % 3) switch
            {
                0 => harness.Request(KvCacheTests.LongPrompt(i, paragraphs: 1), maxTokens: 150, seed: i),
                1 => harness.Request($"Question {i}: tell me something about cities.", maxTokens: 400, ignoreEos: false, seed: i),
                _ => harness.Request($"Question {i}: what about rivers and the sea?", maxTokens: 300, ignoreEos: false, seed: i, stop: [" the", "."]),
            };
            runs.Add(harness.Start(request));
        }

        harness.RunToIdle();
        var finals = new List<StepOutput>();
        foreach (var run in runs)
        {
            finals.Add(await run.FinishedAsync());
        }

        var metrics = PrometheusParser.Parse(harness.Metrics());
        var promptTokens = finals.Sum(f => f.PromptTokens);
        var completionTokens = finals.Sum(f => f.CompletionTokens);
        Assert.Equal(promptTokens, metrics.Value("vllm:prompt_tokens_total"));
        Assert.Equal(completionTokens, metrics.Value("vllm:generation_tokens_total"));
        Assert.Equal(completionTokens, runs.Sum(r => r.Outputs.Sum(o => o.Tokens.Count)));

        var stops = finals.Count(f => f.FinishReason == FinishReason.Stop);
        var lengths = finals.Count(f => f.FinishReason == FinishReason.Length);
        Assert.True(stops > 0 && lengths > 0);
        Assert.Equal(stops, metrics.Value("vllm:request_success_total", ("finished_reason", "stop")));
        Assert.Equal(lengths, metrics.Value("vllm:request_success_total", ("finished_reason", "length")));
        Assert.Equal(0, metrics.Value("vllm:request_success_total", ("finished_reason", "abort")));
        Assert.Equal(runs.Count, metrics.Value("vllm:request_success_total"));

        Assert.Equal(runs.Count, metrics.Value("vllm:e2e_request_latency_seconds_count"));
        Assert.Equal(runs.Count, metrics.Value("vllm:time_to_first_token_seconds_count"));
        Assert.Equal(runs.Count, metrics.Value("vllm:request_queue_time_seconds_count"));
        Assert.Equal(promptTokens, metrics.Value("vllm:request_prompt_tokens_sum"));
        Assert.Equal(completionTokens, metrics.Value("vllm:request_generation_tokens_sum"));
        Assert.Equal(runs.Sum(r => r.Request.MaxTokens), metrics.Value("vllm:request_params_max_tokens_sum"));

        // One inter-token latency per output after the first, as vLLM observes per engine output.
        Assert.Equal(runs.Sum(r => r.Outputs.Count - 1), metrics.Value("vllm:inter_token_latency_seconds_count"));
        Assert.Equal(metrics.Value("vllm:inter_token_latency_seconds_sum"), metrics.Value("vllm:time_per_output_token_seconds_sum"));

        // iteration_tokens_total sums, per step, the prompts that produced their first token and the new tokens.
        Assert.Equal(promptTokens + completionTokens, metrics.Value("vllm:iteration_tokens_total_sum"));

        var snapshot = harness.Engine.Snapshot();
        Assert.Equal(snapshot.PreemptionsTotal, metrics.Value("vllm:num_preemptions_total"));
        Assert.Equal(0, metrics.Value("vllm:num_requests_running"));
        Assert.Equal(0, metrics.Value("vllm:num_requests_waiting"));
        Assert.Equal(0, metrics.Value("vllm:kv_cache_usage_perc"));
    }

    [Fact]
    public async Task Metrics_AbortedRequest_CountsServedTokensButNoFinishedRequest()
    {
        using var harness = new EngineHarness();
        using var cts = new CancellationTokenSource();
        var run = harness.Start(harness.Request("Tell me about the sea.", maxTokens: 100), cts.Token);
        for (var i = 0; i < 5; i++)
        {
            harness.Step();
        }

        await EngineHarness.WaitUntilAsync(() => run.Outputs.Count == 5, "the consumer has read the five outputs");
        await cts.CancelAsync();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => run.Completion);
        harness.RunToIdle();

        var metrics = PrometheusParser.Parse(harness.Metrics());
        var served = run.Outputs.Sum(o => o.Tokens.Count);
        Assert.True(served > 0);
        Assert.Equal(served, metrics.Value("vllm:generation_tokens_total"));
        Assert.Equal(run.Request.PromptTokenIds.Length, metrics.Value("vllm:prompt_tokens_total"));

        // vLLM V1 keeps aborted requests out of request_success and the per-request histograms.
        Assert.Equal(0, metrics.Value("vllm:request_success_total"));
        Assert.Equal(0, metrics.Value("vllm:e2e_request_latency_seconds_count"));
    }
}
