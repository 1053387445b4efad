using Platform.EngineSim.Engine;
using Platform.EngineSim.Tests.Metrics;
using Platform.EngineSim.Text;

namespace Platform.EngineSim.Tests.Engine;

public sealed class KvCacheTests
{
    internal static string LongPrompt(int index, int paragraphs = 2)
    {
        // A distinct first block per index, so prompts only share a prefix when a test wants them to.
        var text = Corpus.Prose;
        var start = (index * 97) % (text.Length / 2);
        var body = text.Substring(start, Math.Min(text.Length - start, 700 * paragraphs));
        return $"Request {index:D4}. Summarize the following notes in plain words.\n\n{body}";
    }

    [Fact]
    public async Task Generate_LongRequestsOverflowSmallCache_QueueGrowsNewestPreemptedAllFinishExactly()
    {
        // 64 blocks of 16 tokens = 1,024 tokens; eight requests of ~170 prompt + 300 output tokens cannot all fit.
        using var harness = new EngineHarness(EngineHarness.CreateOptions(blocks: 64, maxNumSeqs: 8, maxModelLen: 1024));
        var runs = Enumerable.Range(0, 8)
            .Select(i => harness.Start(harness.Request(LongPrompt(i, paragraphs: 1), maxTokens: 300, seed: i)))
            .ToList();

        var maxWaiting = 0;
        var maxRunning = 0;
        var maxUsage = 0.0;
        var checkedPreemptions = 0;
        var previous = harness.Engine.Queues();
        long preemptions = 0;
        harness.RunToIdle(afterStep: () =>
        {
            var snapshot = harness.Engine.Snapshot();
            maxWaiting = Math.Max(maxWaiting, snapshot.Waiting);
            maxRunning = Math.Max(maxRunning, snapshot.Running);
            maxUsage = Math.Max(maxUsage, snapshot.KvCacheUsage);
            Assert.InRange(snapshot.UsedBlocks, 0, 64);
            var queues = harness.Engine.Queues();
            if (snapshot.PreemptionsTotal == preemptions + 1 && previous.Running.Length > 0)
            {
                // vLLM V1 (FCFS): the newest running request is preempted and goes back to the FRONT of the queue.
                var victim = previous.Running[^1];
                Assert.Equal(victim, queues.Waiting[0]);
                Assert.DoesNotContain(victim, queues.Running);
                checkedPreemptions++;
            }

            preemptions = snapshot.PreemptionsTotal;
            previous = queues;
        });

        Assert.True(maxWaiting > 0, "Requests should have waited for KV blocks.");
        Assert.True(maxRunning <= 8);
        Assert.True(maxUsage > 0.9, $"KV-cache usage peaked at {maxUsage:P0}; it should approach 100%.");
        Assert.True(preemptions > 0, "Growing sequences should have preempted the newest one.");
        Assert.True(checkedPreemptions > 0);

        foreach (var run in runs)
        {
            var last = await run.FinishedAsync();
            Assert.Equal(FinishReason.Length, last.FinishReason);
            Assert.Equal(300, last.CompletionTokens);
            Assert.Equal(run.Request.PromptTokenIds.Length, last.PromptTokens);
            Assert.Equal(300, run.Outputs.Sum(o => o.Tokens.Count));
        }

        var end = harness.Engine.Snapshot();
        Assert.Equal(0, end.Running);
        Assert.Equal(0, end.Waiting);
        Assert.Equal(0, end.UsedBlocks);
        Assert.Equal(0.0, end.KvCacheUsage);
        Assert.Equal(8 * 300, end.GenerationTokensTotal);
        Assert.Equal(runs.Sum(r => r.Request.PromptTokenIds.Length), end.PromptTokensTotal);

        var metrics = PrometheusParser.Parse(harness.Metrics());
        Assert.Equal(preemptions, metrics.Value("vllm:num_preemptions_total"));
        Assert.Equal(8, metrics.Value("vllm:request_success_total", ("finished_reason", "length")));
    }

    [Fact]
    public void Generate_RunningBatch_IsCappedAtMaxNumSeqs()
    {
        using var harness = new EngineHarness(EngineHarness.CreateOptions(maxNumSeqs: 4));
        for (var i = 0; i < 10; i++)
        {
            harness.Start(harness.Request(LongPrompt(i), maxTokens: 20));
        }

        harness.Step();
        var snapshot = harness.Engine.Snapshot();
        Assert.Equal(4, snapshot.Running);
        Assert.Equal(6, snapshot.Waiting);
        var metrics = PrometheusParser.Parse(harness.Metrics());
        Assert.Equal(4, metrics.Value("vllm:num_requests_running"));
        Assert.Equal(6, metrics.Value("vllm:num_requests_waiting"));
        harness.RunToIdle();
    }

    [Fact]
    public void Generate_LongPrompt_IsPrefilledInChunksOfTheTokenBudget()
    {
        using var harness = new EngineHarness(EngineHarness.CreateOptions(maxNumBatchedTokens: 128, prefixCaching: false));
        var run = harness.Start(harness.Request(LongPrompt(1, paragraphs: 3), maxTokens: 4));
        var promptTokens = run.Request.PromptTokenIds.Length;
        Assert.True(promptTokens > 300);

        var prefillSteps = 0;
        while (harness.Engine.Snapshot().GenerationTokensTotal == 0)
        {
            Assert.True(harness.Step());
            prefillSteps++;
        }

        Assert.Equal((promptTokens + 127) / 128, prefillSteps);
        harness.RunToIdle();
    }

    [Fact]
    public void Generate_PromptLargerThanWholeCache_IsRejectedUpFront()
    {
        using var harness = new EngineHarness(EngineHarness.CreateOptions(blocks: 8, blockSize: 16));
        var request = harness.Request(LongPrompt(0, paragraphs: 2));
        Assert.True(request.PromptTokenIds.Length > 8 * 16);

        var error = Assert.Throws<ArgumentException>(() => harness.Engine.GenerateAsync(request, CancellationToken.None));
        Assert.Contains("KV-cache blocks", error.Message, StringComparison.Ordinal);
        Assert.Equal(0, harness.Engine.Snapshot().Waiting);
    }
}
