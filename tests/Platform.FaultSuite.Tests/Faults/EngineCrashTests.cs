using System.Net.Http.Json;
using System.Text.Json;
using Platform.FaultSuite.Tests.Support;

namespace Platform.FaultSuite.Tests.Faults;

/// <summary>
/// Fault 1, CI size, against the whole topology: an engine crashes mid-stream under traffic (EngineSim
/// <c>crashAfterTokens</c>, exit 137 as after an OOM kill) and the AppHost restarts it. No request is lost: streams cut
/// by the crash are continued on another engine, those not started are retried. The bench's <c>gateway-crash</c> is the
/// full-size version with per-stream accounting.
/// </summary>
[Collection(TopologyCollection.Name)]
public sealed class EngineCrashTests(TopologyFixture fixture)
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(60);

    [Fact]
    public async Task EngineCrashesMidStream_UnderTraffic_NoRequestLostAndTheEngineServesAgain()
    {
        var ct = TestContext.Current.CancellationToken;
        var output = TestContext.Current.TestOutputHelper!;
        var platform = fixture.Platform;
        await fixture.WaitServingAsync(ct);
        const string Victim = "enginegeneral-0";
        var restartsBefore = (await platform.ReplicaAsync(Victim, ct)).GetProperty("restarts").GetInt32();

        var traffic = new Traffic(platform, workers: 16, maxTokens: 64, phase: "before");
        TimeSpan crashed, servingAgain;
        try
        {
            await traffic.WaitForAsync(40, Timeout, ct);
            traffic.Phase = "crash";
            using (var http = new HttpClient())
            {
                try
                {
                    using var response = await http.PostAsJsonAsync(new Uri(platform.Engines[Victim], "admin/faults"), new { crashAfterTokens = 20 }, ct);
                    response.EnsureSuccessStatusCode();
                }
                catch (HttpRequestException)
                {
                    // Streams already past 20 tokens make the engine die at their next token, often before it answers.
                }
            }

            crashed = await Wait.UntilAsync(
                async () => (await platform.ReplicaAsync(Victim, ct)).GetProperty("restarts").GetInt32() > restartsBefore, Timeout, $"{Victim} crashed and restarted", ct);
            await Wait.UntilAsync(async () => await platform.ReplicaAsync(Victim, ct) is var r
                && r.GetProperty("healthy").ValueKind == JsonValueKind.True && r.GetProperty("state").GetString() == "running", Timeout, $"{Victim} healthy again", ct);
            traffic.Phase = "restarted";
            servingAgain = await Wait.UntilAsync(
                () => Task.FromResult(traffic.In("restarted").Any(r => r.Result.Engine == Victim)), Timeout, $"{Victim} serving again", ct);
            await traffic.WaitForAsync(40, Timeout, ct);
        }
        finally
        {
            await traffic.DisposeAsync();
        }

        var victim = await platform.ReplicaAsync(Victim, ct);
        output.WriteLine($"{Victim} crashed and was restarted by the AppHost {crashed.TotalSeconds:0.00} s after the fault was set (exit code {victim.GetProperty("lastExitCode")}), served again {servingAgain.TotalSeconds:0.00} s after it was healthy");
        foreach (var phase in new[] { "before", "crash", "restarted" })
        {
            output.WriteLine(traffic.Describe(phase));
        }

        Assert.Equal(137, victim.GetProperty("lastExitCode").GetInt32());
        Assert.True(traffic.Results.All(r => r.Result.Ok), "requests failed: " + Traffic.Failures(traffic.Results));
        // Traffic was on the engine when it died (the header names the engine of a stream's first content; a stream cut
        // by the crash and continued elsewhere still names it).
        Assert.Contains(traffic.Results, r => r.Phase is "before" or "crash" && r.Result.Engine == Victim);
        Assert.All(traffic.Results, r => Assert.Equal(64, r.Result.CompletionTokens));
    }
}
