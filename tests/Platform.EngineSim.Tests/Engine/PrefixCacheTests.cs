using Platform.EngineSim.Tests.Metrics;

namespace Platform.EngineSim.Tests.Engine;

public sealed class PrefixCacheTests
{
    [Fact]
    public async Task Generate_SameLongPromptTwice_SecondIsServedFromCacheAndPrefillsFaster()
    {
        using var harness = new EngineHarness(EngineHarness.CreateOptions(blockSize: 16));
        var prompt = KvCacheTests.LongPrompt(3, paragraphs: 4);

        var first = harness.Start(harness.Request(prompt, maxTokens: 8));
        harness.RunToIdle();
        var firstLast = await first.FinishedAsync();
        var afterFirst = PrometheusParser.Parse(harness.Metrics());
        var firstPrefill = afterFirst.Value("vllm:request_prefill_time_seconds_sum");

        var second = harness.Start(harness.Request(prompt, maxTokens: 8));
        harness.RunToIdle();
        var secondLast = await second.FinishedAsync();
        var afterSecond = PrometheusParser.Parse(harness.Metrics());
        var secondPrefill = afterSecond.Value("vllm:request_prefill_time_seconds_sum") - firstPrefill;

        var promptTokens = first.Request.PromptTokenIds.Length;
        Assert.True(promptTokens > 400);

        // Full blocks only, and never the last token (vLLM recomputes at least one).
        var expectedHit = (promptTokens - 1) / 16 * 16;
        Assert.Equal(0, firstLast.CachedPromptTokens);
        Assert.Equal(expectedHit, secondLast.CachedPromptTokens);
        Assert.All(second.Outputs, o => Assert.Equal(expectedHit, o.CachedPromptTokens));
        Assert.True(secondPrefill < firstPrefill / 4, $"Cached prefill took {secondPrefill:F4}s against {firstPrefill:F4}s uncached.");

        // V1 counts tokens: queries = prompt tokens looked up, hits = tokens found.
        Assert.Equal(2 * promptTokens, afterSecond.Value("vllm:prefix_cache_queries_total"));
        Assert.Equal(expectedHit, afterSecond.Value("vllm:prefix_cache_hits_total"));

        // The cached prompt is still counted in full as prompt tokens, as vLLM does.
        Assert.Equal(2 * promptTokens, afterSecond.Value("vllm:prompt_tokens_total"));
    }

    [Fact]
    public async Task Generate_SharedPrefixDifferentTails_HitsOnlyTheSharedFullBlocks()
    {
        using var harness = new EngineHarness();
        var shared = KvCacheTests.LongPrompt(5, paragraphs: 2);
        var a = harness.Start(harness.Request(shared + " First question: what is the main point?", maxTokens: 4));
        harness.RunToIdle();
        await a.FinishedAsync();

        var b = harness.Start(harness.Request(shared + " Second question: who is it for?", maxTokens: 4));
        harness.RunToIdle();
        var last = await b.FinishedAsync();

        var sharedTokens = CommonPrefix(a.Request.PromptTokenIds, b.Request.PromptTokenIds);
        Assert.Equal(sharedTokens / 16 * 16, last.CachedPromptTokens);
        Assert.True(last.CachedPromptTokens > 0);
    }

    [Fact]
    public async Task Generate_PrefixCachingDisabled_NothingIsCachedOrCounted()
    {
        using var harness = new EngineHarness(EngineHarness.CreateOptions(prefixCaching: false));
        var prompt = KvCacheTests.LongPrompt(8);
        harness.Start(harness.Request(prompt, maxTokens: 4));
        harness.RunToIdle();
        var second = harness.Start(harness.Request(prompt, maxTokens: 4));
        harness.RunToIdle();

        Assert.Equal(0, (await second.FinishedAsync()).CachedPromptTokens);
        var metrics = PrometheusParser.Parse(harness.Metrics());
        Assert.Equal(0, metrics.Value("vllm:prefix_cache_queries_total"));
        Assert.Equal(0, metrics.Value("vllm:prefix_cache_hits_total"));
    }

    [Fact]
    public async Task Generate_CachedBlocksEvictedUnderPressure_LaterRequestMisses()
    {
        // 40 blocks: the first prompt's blocks stay cached while free, then other prompts evict them (LRU).
        using var harness = new EngineHarness(EngineHarness.CreateOptions(blocks: 40, maxModelLen: 640));
        var prompt = KvCacheTests.LongPrompt(11);
        harness.Start(harness.Request(prompt, maxTokens: 4));
        harness.RunToIdle();
        for (var i = 20; i < 24; i++)
        {
            harness.Start(harness.Request(KvCacheTests.LongPrompt(i), maxTokens: 4));
            harness.RunToIdle();
        }

        var again = harness.Start(harness.Request(prompt, maxTokens: 4));
        harness.RunToIdle();
        Assert.Equal(0, (await again.FinishedAsync()).CachedPromptTokens);
    }

    private static int CommonPrefix(int[] a, int[] b)
    {
        var n = 0;
        while (n < a.Length && n < b.Length && a[n] == b[n])
        {
            n++;
        }

        return n;
    }
}
