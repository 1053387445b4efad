using System.Globalization;
using System.Text.Json;
using Platform.EngineSim.Tests.Fixtures;

namespace Platform.EngineSim.Tests.Api;

/// <summary>
/// The real simulated engine seen only through HTTP, as a router sees vLLM: the KV cache filling up, the
/// waiting queue and preemptions in /metrics, metric totals equal to the usage clients were given, and a
/// client disconnect freeing its slot at once.
/// </summary>
public sealed class EngineThroughHttpTests
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task ManyLongRequests_FillKvCache_PreemptQueueAndMetricTotalsMatchUsage()
    {
        // 48 blocks of 16 tokens = 768 tokens of KV cache; 10 requests that grow to ~230 tokens each need ~3x that.
        await using var server = await EngineSimServer.StartAsync(
            "--model m --max-model-len 512 --block-size 16 --num-gpu-blocks-override 48 --max-num-seqs 32 --sim-speedup 4");
        const int Requests = 10;

        var maxWaiting = 0.0;
        var maxUsage = 0.0;
        using var stopPolling = CancellationTokenSource.CreateLinkedTokenSource(Ct);
        var poller = Task.Run(async () =>
        {
            while (!stopPolling.IsCancellationRequested)
            {
                var metrics = await server.MetricsAsync();
                maxWaiting = Math.Max(maxWaiting, EngineSimServer.SumMetric(metrics, "vllm:num_requests_waiting"));
                maxUsage = Math.Max(maxUsage, EngineSimServer.SumMetric(metrics, "vllm:kv_cache_usage_perc"));
                await Task.Delay(10, CancellationToken.None);
            }
        }, CancellationToken.None);

        var responses = await Task.WhenAll(Enumerable.Range(0, Requests).Select(i => Sse.PostJsonAsync(server.Http, "v1/completions",
            $$"""{"prompt":"Request {{i}}: tell a long story about the harbour, the boats and the people who work there.","max_tokens":200,"ignore_eos":true}""")));
        await stopPolling.CancelAsync();
        await poller;

        Assert.All(responses, r => Assert.Equal(200, r.Status));
        var usages = responses.Select(r => r.Body.GetProperty("usage")).ToList();
        Assert.All(usages, u => Assert.Equal(200, u.GetProperty("completion_tokens").GetInt32()));

        var final = await server.MetricsAsync();
        Assert.True(maxWaiting > 0, "requests waited in the queue");
        Assert.True(maxUsage >= 0.9, $"KV cache usage peaked at {maxUsage.ToString(CultureInfo.InvariantCulture)}");
        Assert.True(EngineSimServer.SumMetric(final, "vllm:num_preemptions_total") > 0, "sequences were preempted");
        Assert.Equal(0, EngineSimServer.SumMetric(final, "vllm:num_requests_running"));
        Assert.Equal(0, EngineSimServer.SumMetric(final, "vllm:num_requests_waiting"));
        Assert.Equal(usages.Sum(u => u.GetProperty("prompt_tokens").GetInt32()), EngineSimServer.SumMetric(final, "vllm:prompt_tokens_total"));
        Assert.Equal(usages.Sum(u => u.GetProperty("completion_tokens").GetInt32()), EngineSimServer.SumMetric(final, "vllm:generation_tokens_total"));
        Assert.Equal(Requests, EngineSimServer.SumMetric(final, "vllm:request_success_total"));
    }

    [Fact]
    public async Task StreamedAndNonStreamedMix_MetricTotalsEqualUsageReceived()
    {
        await using var server = await EngineSimServer.StartAsync("--model m --max-model-len 2048 --num-gpu-blocks-override 512 --sim-speedup 20");
        var prompt = 0;
        var completion = 0;
        for (var i = 0; i < 4; i++)
        {
            var (_, body) = await Sse.PostJsonAsync(server.Http, "v1/chat/completions",
                $$"""{"messages":[{"role":"user","content":"Question {{i}}: how do tides work?"}],"max_tokens":40}""");
            prompt += body.GetProperty("usage").GetProperty("prompt_tokens").GetInt32();
            completion += body.GetProperty("usage").GetProperty("completion_tokens").GetInt32();

            using var response = await Sse.PostAsync(server.Http, "v1/completions",
                $$$"""{"prompt":"def f{{{i}}}(x):","max_tokens":30,"stream":true,"stream_options":{"include_usage":true}}""");
            var usage = Sse.Json((await Sse.ReadEventsAsync(response))[^2]).GetProperty("usage");
            prompt += usage.GetProperty("prompt_tokens").GetInt32();
            completion += usage.GetProperty("completion_tokens").GetInt32();
        }

        var metrics = await server.MetricsAsync();
        Assert.Equal(prompt, EngineSimServer.SumMetric(metrics, "vllm:prompt_tokens_total"));
        Assert.Equal(completion, EngineSimServer.SumMetric(metrics, "vllm:generation_tokens_total"));
        Assert.Equal(8, EngineSimServer.SumMetric(metrics, "vllm:request_success_total"));
    }

    [Fact]
    public async Task ClientDisconnectMidStream_NumRequestsRunningDropsPromptly()
    {
        await using var server = await EngineSimServer.StartAsync("--model m --max-model-len 8192 --num-gpu-blocks-override 1024");
        var response = await Sse.PostAsync(server.Http, "v1/chat/completions",
            """{"messages":[{"role":"user","content":"Tell me everything."}],"max_tokens":6000,"ignore_eos":true,"stream":true}""");
        var stream = await response.Content.ReadAsStreamAsync(Ct);
        Assert.True(await stream.ReadAsync(new byte[512], Ct) > 0);
        Assert.Equal(1, await server.MetricAsync("vllm:num_requests_running"));

        response.Dispose();

        // The generation would run for ~40 s (6,000 tokens at ~6.5 ms); the slot must be freed long before.
        await EngineSimServer.WaitUntilAsync(async () => await server.MetricAsync("vllm:num_requests_running") == 0, TimeSpan.FromSeconds(5),
            "vllm:num_requests_running to drop to 0");
        Assert.Equal(0, await server.MetricAsync("vllm:kv_cache_usage_perc"));
    }

    [Fact]
    public async Task SpeculativeEngine_ServesNChoicesAndCountsDrafts()
    {
        await using var server = await EngineSimServer.StartAsync(
            """--model m --max-model-len 2048 --num-gpu-blocks-override 512 --sim-speedup 20 --speculative-config {"model":"draft-coder-1b","num_speculative_tokens":4}""");
        var (status, body) = await Sse.PostJsonAsync(server.Http, "v1/chat/completions",
            """{"messages":[{"role":"user","content":"Write a Python function that sorts a list."}],"max_tokens":40,"n":2,"ignore_eos":true}""");

        Assert.Equal(200, status);
        Assert.Equal(2, body.GetProperty("choices").GetArrayLength());
        Assert.Equal(80, body.GetProperty("usage").GetProperty("completion_tokens").GetInt32());
        Assert.True(await server.MetricAsync("vllm:spec_decode_num_drafts_total") > 0);
        Assert.Equal(JsonValueKind.String, body.GetProperty("choices")[1].GetProperty("finish_reason").ValueKind);
    }

    [Fact]
    public async Task Hang_RequestHeldInEngineUntilClientCancels()
    {
        await using var server = await EngineSimServer.StartAsync("--model m --max-model-len 2048 --num-gpu-blocks-override 512 --sim-hang");
        using var cancel = CancellationTokenSource.CreateLinkedTokenSource(Ct);
        var request = server.Http.PostAsync("v1/chat/completions",
            new StringContent("""{"messages":[{"role":"user","content":"hello?"}],"max_tokens":5,"stream":true}""", System.Text.Encoding.UTF8, "application/json"),
            cancel.Token);

        async Task<double> InEngine() => await server.MetricAsync("vllm:num_requests_running") + await server.MetricAsync("vllm:num_requests_waiting");
        await EngineSimServer.WaitUntilAsync(async () => await InEngine() == 1, TimeSpan.FromSeconds(5), "the request to be admitted");
        Assert.False(request.IsCompleted);

        await cancel.CancelAsync();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => request);

        await EngineSimServer.WaitUntilAsync(async () => await InEngine() == 0, TimeSpan.FromSeconds(5), "the hung request to be freed");
    }

    [Fact]
    public async Task Stream_QueuedRequest_HeadersLeaveBeforeTheFirstToken_ClientGoingAwayFreesIt()
    {
        // vLLM's StreamingResponse sends the status and headers before the first token; the engine is hung here, so no
        // token ever comes and only the headers can have been sent.
        await using var server = await EngineSimServer.StartAsync("--model m --max-model-len 2048 --num-gpu-blocks-override 512 --sim-hang");
        using var cancel = CancellationTokenSource.CreateLinkedTokenSource(Ct);
        using var message = new HttpRequestMessage(HttpMethod.Post, "v1/chat/completions")
        {
            Content = new StringContent("""{"messages":[{"role":"user","content":"hello?"}],"max_tokens":5,"stream":true}""", System.Text.Encoding.UTF8, "application/json"),
        };

        using var response = await server.Http.SendAsync(message, HttpCompletionOption.ResponseHeadersRead, cancel.Token).WaitAsync(TimeSpan.FromSeconds(30), Ct);

        Assert.Equal(200, (int)response.StatusCode);
        Assert.Equal("text/event-stream", response.Content.Headers.ContentType?.MediaType);
        async Task<double> InEngine() => await server.MetricAsync("vllm:num_requests_running") + await server.MetricAsync("vllm:num_requests_waiting");
        await EngineSimServer.WaitUntilAsync(async () => await InEngine() == 1, TimeSpan.FromSeconds(5), "the request to be queued");

        // The client waits for its first token in the body and goes away: its connection closes.
        await using var body = await response.Content.ReadAsStreamAsync(Ct);
        var read = body.ReadAsync(new byte[256], cancel.Token).AsTask();
        await cancel.CancelAsync();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => read);
        await EngineSimServer.WaitUntilAsync(async () => await InEngine() == 0, TimeSpan.FromSeconds(5), "the request to be freed");
    }
}
