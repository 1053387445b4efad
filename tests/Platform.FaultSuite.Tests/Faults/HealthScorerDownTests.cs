using System.Net.Http.Headers;
using System.Text.Json;
using Platform.FaultSuite.Drills;
using Platform.FaultSuite.Tests.Support;

namespace Platform.FaultSuite.Tests.Faults;

/// <summary>
/// Fault 6: the HealthScorer stops while traffic flows. The gateway's own scraper takes over; nothing stalls, and an
/// engine that becomes unreachable meanwhile is routed around on the gateway's own view.
/// </summary>
[Collection(TopologyCollection.Name)]
public sealed class HealthScorerDownTests(TopologyFixture fixture)
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(60);

    [Fact]
    public async Task HealthScorerStopped_UnderTraffic_OwnViewTakesOverAndRoutesAroundAnUnreachableEngine()
    {
        var ct = TestContext.Current.CancellationToken;
        var output = TestContext.Current.TestOutputHelper!;
        var platform = fixture.Platform;
        await fixture.WaitServingAsync(ct);
        using var admin = new HttpClient { BaseAddress = platform.Gateway };
        admin.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", PlatformProcess.AdminKey);
        const string Victim = "enginegeneral-1";

        var traffic = new Traffic(platform, workers: 8, maxTokens: 16, phase: "scorer up");
        TimeSpan tookOver, unreachable;
        try
        {
            await traffic.WaitForAsync(60, Timeout, ct);

            traffic.Phase = "scorer down";
            await platform.ControlAsync("healthscorer", "stop", ct);
            var stoppedAtMs = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();

            // Nothing but the gateway's own scraper can produce an observation newer than the HealthScorer's stop.
            tookOver = await Wait.UntilAsync(
                async () => (await ObservedAtAsync("enginegeneral-0")) > stoppedAtMs, Timeout, "the gateway's own view of enginegeneral-0", ct);
            output.WriteLine($"HealthScorer stopped: the gateway's own scraper served enginegeneral-0's health {tookOver.TotalSeconds:0.00} s later");

            await platform.ControlAsync(Victim, "stop", ct);
            traffic.Phase = "engine down";
            unreachable = await Wait.UntilAsync(async () => (await HealthAsync(Victim)) is { } h
                && h.TryGetProperty("reachable", out var r) && r.ValueKind == JsonValueKind.False, Timeout, $"{Victim} unreachable in the gateway's view", ct);
            output.WriteLine($"{Victim} stopped: unreachable in the gateway's own view {unreachable.TotalSeconds:0.00} s later");

            traffic.Phase = "routing around";
            await traffic.WaitForAsync(60, Timeout, ct);

            traffic.Phase = "restoring";
            await platform.ControlAsync(Victim, "start", ct);
            await platform.ControlAsync("healthscorer", "start", ct);
            await platform.WaitAllHealthyAsync(Timeout, ct);
            traffic.Phase = "restored";
            await traffic.WaitForAsync(20, Timeout, ct);
        }
        finally
        {
            await traffic.DisposeAsync();
        }

        foreach (var phase in new[] { "scorer up", "scorer down", "engine down", "routing around", "restoring", "restored" })
        {
            output.WriteLine(traffic.Describe(phase));
        }

        Assert.True(traffic.Results.All(r => r.Result.Ok), "requests failed: " + Traffic.Failures(traffic.Results));
        var around = traffic.In("routing around").ToList();
        Assert.True(around.Count >= 60);
        Assert.DoesNotContain(around, r => r.Result.Engine == Victim);
        Assert.Contains(around, r => r.Result.Engine == "enginegeneral-0");

        async Task<JsonElement?> HealthAsync(string engine)
        {
            using var fleet = JsonDocument.Parse(await admin.GetStringAsync("/admin/fleet", ct));
            var entry = fleet.RootElement.GetProperty("engines").EnumerateArray().First(e => e.GetProperty("id").GetString() == engine);
            return entry.GetProperty("health") is { ValueKind: JsonValueKind.Object } health ? health.Clone() : null;
        }

        async Task<double> ObservedAtAsync(string engine) =>
            await HealthAsync(engine) is { } h ? h.GetProperty("observedAtMs").GetDouble() : 0;
    }
}
