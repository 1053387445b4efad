using System.Text;
using Platform.HealthScorer.Tests.Fixtures;

namespace Platform.HealthScorer.Tests.EndToEnd;

/// <summary>
/// A real EngineSim whose loop hangs while /health keeps saying 200 (its hang and lieHealth faults): the HealthScorer
/// calls it stalled and unroutable, and healthy again once it makes progress.
/// </summary>
public sealed class StalledEngineTests
{
    private const string Model = "llama-3.1-8b-instruct";

    [Fact]
    public async Task HangingEngineWhoseHealthLies_StalledThenProgressingAgain()
    {
        var ct = TestContext.Current.CancellationToken;
        await using var engine = await EngineSim.StartAsync(Model, "--sim-engine-label", "enginegeneral-0", "--sim-speedup", "4");
        await using var scorer = await HealthScorerHost.StartAsync(HealthScorerHost.Configuration([engine.BaseUri]));
        await scorer.WaitForEngineAsync("enginegeneral-0", e => e.Reachable && !e.Stalled, "reachable");

        // A long generation is running when the engine's loop hangs; /health keeps saying 200.
        using var http = new HttpClient { BaseAddress = engine.BaseUri, Timeout = Timeout.InfiniteTimeSpan };
        var request = http.PostAsync(
            "v1/completions",
            new StringContent($$"""{"model":"{{Model}}","prompt":"Tell me a story","max_tokens":4000,"ignore_eos":true}""", Encoding.UTF8, "application/json"),
            ct);
        await scorer.WaitForEngineAsync("enginegeneral-0", e => e.Running > 0 && e.GenerationTokensPerSecond > 0, "generating");
        await engine.SetFaultsAsync(new { hang = true, lieHealth = true });

        var stalled = await scorer.WaitForEngineAsync("enginegeneral-0", e => e.Stalled, "stalled");
        Assert.True(stalled.Reachable);
        Assert.Equal(0, stalled.Score);
        Assert.True(stalled.Running > 0);

        await engine.SetFaultsAsync(new { });
        using (var response = await request)
        {
            Assert.True(response.IsSuccessStatusCode);
        }

        var again = await scorer.WaitForEngineAsync("enginegeneral-0", e => !e.Stalled && e.Reachable, "progressing again");
        Assert.True(again.Score > 0);
    }
}
