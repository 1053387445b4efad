using Microsoft.Extensions.Logging.Abstractions;
using Platform.EngineSim.Engine;
using Platform.EngineSim.Faults;

namespace Platform.EngineSim.Tests.Engine;

public sealed class CancellationTests
{
    [Fact]
    public async Task Cancel_RunningRequest_FreesBlocksAndLeavesTheBatchAtOnce()
    {
        using var harness = new EngineHarness(EngineHarness.CreateOptions(prefixCaching: false));
        using var cts = new CancellationTokenSource();
        var keep = harness.Start(harness.Request(KvCacheTests.LongPrompt(1), maxTokens: 50));
        var cancelled = harness.Start(harness.Request(KvCacheTests.LongPrompt(2), maxTokens: 50), cts.Token);
        harness.Step();
        harness.Step();
        var before = harness.Engine.Snapshot();
        Assert.Equal(2, before.Running);

        await cts.CancelAsync();

        // No step in between: the abort is immediate.
        var after = harness.Engine.Snapshot();
        Assert.Equal(1, after.Running);
        var expectedBlocks = (keep.Request.PromptTokenIds.Length + 1 + 15) / 16;
        Assert.Equal(expectedBlocks, after.UsedBlocks);
        Assert.True(after.UsedBlocks < before.UsedBlocks);
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => cancelled.Completion);

        harness.RunToIdle();
        Assert.Equal(50, (await keep.FinishedAsync()).CompletionTokens);
        Assert.Equal(0, harness.Engine.Snapshot().UsedBlocks);
    }

    [Fact]
    public async Task Cancel_WaitingRequest_LeavesTheQueueAtOnce()
    {
        using var harness = new EngineHarness(EngineHarness.CreateOptions(maxNumSeqs: 1));
        using var cts = new CancellationTokenSource();
        var first = harness.Start(harness.Request("Tell me about the sea.", maxTokens: 10));
        var queued = harness.Start(harness.Request("Tell me about rivers.", maxTokens: 10), cts.Token);
        harness.Step();
        Assert.Equal(1, harness.Engine.Snapshot().Waiting);

        await cts.CancelAsync();
        Assert.Equal(0, harness.Engine.Snapshot().Waiting);
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => queued.Completion);
        Assert.Empty(queued.Outputs);

        harness.RunToIdle();
        await first.FinishedAsync();
    }

    [Fact]
    public async Task DisposeEnumeratorEarly_AbortsTheRequest()
    {
        using var harness = new EngineHarness();
        var request = harness.Request("Tell me about the sea.", maxTokens: 100);
        var enumerator = harness.Engine.GenerateAsync(request, CancellationToken.None).GetAsyncEnumerator();
        var first = enumerator.MoveNextAsync();
        harness.Step();
        Assert.True(await first);
        Assert.Equal(1, harness.Engine.Snapshot().Running);

        await enumerator.DisposeAsync();
        Assert.Equal(0, harness.Engine.Snapshot().Running);
        Assert.Equal(0, harness.Engine.Snapshot().UsedBlocks);
    }

    [Fact]
    public async Task HostedLoop_RealClock_StreamsAndCancelsOverTheBackgroundLoop()
    {
        var options = EngineHarness.CreateOptions() with { Latency = new LatencyModel { Speedup = 20 } };
        using var engine = new SimEngine(options, new FaultController(new FaultSettings()), EngineHarness.Tokenizer, EngineHarness.Generator, TimeProvider.System, NullLogger.Instance);
        await engine.StartAsync(TestContext.Current.CancellationToken);
        try
        {
            var request = new EngineRequest
            {
                RequestId = "cmpl-real",
                PromptText = "Tell me about the sea.",
                PromptTokenIds = EngineHarness.Tokenizer.Encode("Tell me about the sea."),
                MaxTokens = 40,
                IgnoreEos = true,
                ArrivalTime = DateTimeOffset.UtcNow,
            };
            var outputs = new List<StepOutput>();
            await foreach (var output in engine.GenerateAsync(request, TestContext.Current.CancellationToken))
            {
                outputs.Add(output);
            }

            Assert.Equal(40, outputs[^1].CompletionTokens);
            Assert.Equal(FinishReason.Length, outputs[^1].FinishReason);

            using var cts = new CancellationTokenSource();
            var run = RequestRun.Start(engine, request with { RequestId = "cmpl-real-2", MaxTokens = 100_000 }, cts.Token);
            await EngineHarness.WaitUntilAsync(() => run.Outputs.Count >= 3, "tokens stream from the loop");
            await cts.CancelAsync();
            await Assert.ThrowsAnyAsync<OperationCanceledException>(() => run.Completion);
            Assert.Equal(0, engine.Snapshot().Running);
        }
        finally
        {
            await engine.StopAsync(TestContext.Current.CancellationToken);
        }
    }
}
