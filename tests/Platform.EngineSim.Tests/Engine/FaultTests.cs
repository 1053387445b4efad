using Platform.EngineSim.Engine;
using Platform.EngineSim.Faults;
using Platform.EngineSim.Tests.Metrics;

namespace Platform.EngineSim.Tests.Engine;

public sealed class FaultTests
{
    [Fact]
    public void Slowdown_MultipliesTheStepTime()
    {
        var normal = DecodeStepTime(new FaultSettings());
        var slow = DecodeStepTime(new FaultSettings { Slowdown = 3 });
        Assert.Equal(normal.TotalMilliseconds * 3, slow.TotalMilliseconds, precision: 3);
    }

    [Fact]
    public void LatencySpike_AtRateOne_AddsToEveryStep()
    {
        var normal = DecodeStepTime(new FaultSettings());
        var spiky = DecodeStepTime(new FaultSettings { LatencySpikeMs = 250, LatencySpikeRate = 1 });
        Assert.Equal(normal.TotalMilliseconds + 250, spiky.TotalMilliseconds, precision: 3);
    }

    [Fact]
    public void DefaultLatencyModel_MatchesAnEightBModelOnOneH100()
    {
        // Batch of one, short context: ~6.5 ms per token (about 150 tokens/s).
        var single = DecodeStepTime(new FaultSettings());
        Assert.InRange(single.TotalMilliseconds, 6, 8);

        // Prefill of a 1,000-token prompt: tens of milliseconds.
        using var harness = new EngineHarness();
        harness.Start(harness.Request(KvCacheTests.LongPrompt(0, paragraphs: 4), maxTokens: 1));
        harness.Step();
        Assert.InRange(harness.StepDurations[0].TotalMilliseconds, 30, 80);
    }

    [Fact]
    public async Task Hang_StopsProgress_CancellationStillRemoves_ClearingResumes()
    {
        using var harness = new EngineHarness();
        using var cts = new CancellationTokenSource();
        var kept = harness.Start(harness.Request("Tell me about the sea.", maxTokens: 20));
        var dropped = harness.Start(harness.Request("Tell me about rivers.", maxTokens: 20), cts.Token);
        harness.Step();
        harness.Step();
        var generated = harness.Engine.Snapshot().GenerationTokensTotal;

        harness.Faults.Set(new FaultSettings { Hang = true });
        for (var i = 0; i < 5; i++)
        {
            Assert.False(harness.Step());
            harness.Clock.Advance(TimeSpan.FromSeconds(1));
        }

        var hung = harness.Engine.Snapshot();
        Assert.Equal(generated, hung.GenerationTokensTotal);
        Assert.Equal(2, hung.Running);

        await cts.CancelAsync();
        Assert.Equal(1, harness.Engine.Snapshot().Running);
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => dropped.Completion);

        harness.Faults.Set(new FaultSettings());
        harness.RunToIdle();
        Assert.Equal(20, (await kept.FinishedAsync()).CompletionTokens);
    }

    [Fact]
    public void KvDrift_ShrinksUsableBlocks_PreemptsAndQueues_UsageClimbsAgainstTheOriginalTotal()
    {
        using var harness = new EngineHarness(EngineHarness.CreateOptions(blocks: 200, maxModelLen: 3200));
        var runs = Enumerable.Range(0, 6).Select(i => harness.Start(harness.Request(KvCacheTests.LongPrompt(i), maxTokens: 400))).ToList();
        for (var i = 0; i < 5; i++)
        {
            harness.Step();
        }

        var before = harness.Engine.Snapshot();
        Assert.Equal(6, before.Running);
        Assert.Equal(200, before.UsableBlocks);

        // 40 blocks per second for 3 seconds: 120 of 200 blocks are gone.
        harness.Faults.Set(new FaultSettings { KvDrift = 40 });
        harness.Clock.Advance(TimeSpan.FromSeconds(3));
        harness.Step();
        var drifted = harness.Engine.Snapshot();
        Assert.Equal(80, drifted.UsableBlocks);
        Assert.Equal(200, drifted.TotalBlocks);
        Assert.True(drifted.PreemptionsTotal > 0, "Sequences that no longer fit must be preempted.");
        Assert.True(drifted.Waiting > 0);
        Assert.True(drifted.Running < 6);
        Assert.True(drifted.KvCacheUsage > before.KvCacheUsage);
        Assert.True(drifted.UsedBlocks >= 120);

        // Clearing the fault does not give the blocks back (until restart); the loss never goes below zero.
        harness.Faults.Set(new FaultSettings { KvDrift = 1000 });
        harness.Clock.Advance(TimeSpan.FromSeconds(10));
        harness.Step();
        harness.Faults.Set(new FaultSettings());
        var exhausted = harness.Engine.Snapshot();
        Assert.Equal(0, exhausted.UsableBlocks);
        Assert.Equal(1.0, exhausted.KvCacheUsage);
        Assert.Equal(0, exhausted.Running);
        Assert.Equal(6, exhausted.Waiting);
        Assert.False(harness.Step());
        var metrics = PrometheusParser.Parse(harness.Metrics());
        Assert.Equal(1.0, metrics.Value("vllm:kv_cache_usage_perc"));
        Assert.Equal(6, metrics.Value("vllm:num_requests_waiting"));
        Assert.All(runs, r => Assert.False(r.Completion.IsCompleted));
    }

    [Fact]
    public async Task MarkDead_EndsRequestsInFlightAndRefusesNewOnes()
    {
        using var harness = new EngineHarness();
        var run = harness.Start(harness.Request("Tell me about the sea.", maxTokens: 50));
        harness.Step();
        harness.Engine.MarkDead();

        await Assert.ThrowsAsync<EngineDeadException>(() => run.Completion);
        Assert.True(harness.Engine.IsDead);
        Assert.True(harness.Engine.Snapshot().Dead);
        Assert.Throws<EngineDeadException>(() => harness.Engine.GenerateAsync(harness.Request("Hello"), CancellationToken.None));
        Assert.False(harness.Step());
    }

    private static TimeSpan DecodeStepTime(FaultSettings faults)
    {
        using var harness = new EngineHarness(faults: faults);
        harness.Start(harness.Request("Tell me about the sea.", maxTokens: 10));
        harness.Step();
        harness.Step();
        return harness.StepDurations[1];
    }
}
