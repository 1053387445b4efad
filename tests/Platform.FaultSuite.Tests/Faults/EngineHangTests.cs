using System.Diagnostics;
using System.Globalization;
using System.Net.Http.Json;
using Platform.FaultSuite.Drills;
using Platform.FaultSuite.Tests.Support;
using Platform.Watchdog.V1;

namespace Platform.FaultSuite.Tests.Faults;

/// <summary>
/// Fault 2: an engine of a pool with a spare hangs under traffic while its /health keeps answering 200 (EngineSim
/// <c>hang</c> + <c>lieHealth</c>). The watchdog finds it (the HealthScorer calls it stalled, a deep probe confirms),
/// drains it, restarts it through the AppHost's control API, warms it and undrains it. The requests the hung engine
/// held are cut when its process is stopped: the gateway retries those that had no token yet and continues those that
/// had, so every client request completes.
/// </summary>
[Collection(TopologyCollection.Name)]
public sealed class EngineHangTests(TopologyFixture fixture)
{
    private const string Victim = "enginegeneral-1";

    /// <summary>Target 30 s on a quiet machine; the bound is for a loaded 2-core CI machine, the figure is printed.</summary>
    private static readonly TimeSpan BackInServiceBound = TimeSpan.FromSeconds(120);

    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(60);

    [Fact]
    public async Task EngineHangsWithLyingHealth_UnderTraffic_WatchdogRestartsItAndEveryRequestCompletes()
    {
        var ct = TestContext.Current.CancellationToken;
        var output = TestContext.Current.TestOutputHelper!;
        var platform = fixture.Platform;
        var watchdog = fixture.Watchdog;
        await fixture.WaitServingAsync(ct);
        using var http = new HttpClient();
        var engine = platform.Engines[Victim];
        var pidBefore = (await platform.ReplicaAsync(Victim, ct)).GetProperty("pid").GetInt32();
        var since = await watchdog.LastSequenceAsync(ct);
        var rescuedBefore = await Readings.GatewayRescuesAsync(http, platform, ct);
        var load = Readings.LoadAverage();

        var traffic = new Traffic(platform, workers: 12, maxTokens: 64, phase: "before");
        DateTimeOffset faultAt = default;
        var faultSet = false;
        List<Event> timeline;
        TimeSpan servingAgain;
        try
        {
            await traffic.WaitForAsync(40, Timeout, ct);

            // The HealthScorer calls an engine stalled only while requests run on it without progress: hang it while it
            // runs some of the traffic's requests (a request ending in between is simply tried again).
            traffic.Phase = "hung";
            await Wait.UntilAsync(
                async () =>
                {
                    if (await RunningAsync() < 1)
                    {
                        return false;
                    }

                    faultAt = DateTimeOffset.UtcNow;
                    await SetFaultsAsync(new { hang = true, lieHealth = true });
                    faultSet = true;
                    if (await RunningAsync() >= 1)
                    {
                        return true;
                    }

                    await SetFaultsAsync(new { });
                    faultSet = false;
                    return false;
                },
                Timeout,
                $"{Victim} hung with requests running",
                ct);
            var clock = Stopwatch.StartNew();

            var end = await watchdog.WaitForEventAsync(since, Victim, WatchdogApi.Ends, BackInServiceBound + TimeSpan.FromSeconds(30), $"the watchdog to finish with {Victim}", ct);
            output.WriteLine($"the watchdog ended its procedure ({end.Kind}) {clock.Elapsed.TotalSeconds:0.0} s after the fault (test clock)");
            traffic.Phase = "after";
            servingAgain = await Wait.UntilAsync(
                () => Task.FromResult(traffic.In("after").Any(r => r.Result.Engine == Victim)), Timeout, $"{Victim} serving through the gateway again", ct);
            await traffic.WaitForAsync(40, Timeout, ct);
            timeline = await watchdog.EventsSinceAsync(since, Victim, ct);
        }
        finally
        {
            await traffic.DisposeAsync();
            if (faultSet && (await platform.ReplicaAsync(Victim, CancellationToken.None)).GetProperty("pid").GetInt32() == pidBefore)
            {
                // The watchdog did not restart it: put back what the drill broke.
                await SetFaultsAsync(new { });
            }
        }

        var rescuedAfter = await Readings.GatewayRescuesAsync(http, platform, ct);
        var retried = rescuedAfter.Retries - rescuedBefore.Retries;
        var continued = rescuedAfter.Continued - rescuedBefore.Continued;
        output.WriteLine($"fault set (hang + lieHealth on {Victim}, {traffic.In("hung").Count()} requests started so far in this phase) at +0.00 s; load average {load} at the start, {Readings.LoadAverage()} now");
        foreach (var e in timeline)
        {
            output.WriteLine($"{WatchdogApi.Offset(e, faultAt)}  {e.Kind,-28} {e.Source,-8} {e.Reason}");
        }

        var pidAfter = (await platform.ReplicaAsync(Victim, ct)).GetProperty("pid").GetInt32();
        var undrained = timeline.LastOrDefault(e => e.Kind == EventKind.Undrained);
        var requested = timeline.FirstOrDefault(e => e.Kind == EventKind.RestartRequested);
        var recovered = timeline.FirstOrDefault(e => e.Kind == EventKind.Recovered);
        if (undrained is not null && requested is not null && recovered is not null)
        {
            output.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"back in service {WatchdogApi.Since(undrained, faultAt).TotalSeconds:0.0} s after the fault (target 30 s on a quiet machine); the restart itself (requested to recovered) took {(recovered.At.ToDateTimeOffset() - requested.At.ToDateTimeOffset()).TotalSeconds:0.0} s; served a request through the gateway {servingAgain.TotalSeconds:0.0} s after its undrain; load average {Readings.LoadAverage()}"));
        }

        // The requests the hung engine held: cut when the watchdog had it stopped, then retried (no token yet) or
        // continued (tokens relayed) by the gateway; none reached its client as an error.
        var stuck = traffic.In("hung").Where(r => r.Result.Ok && r.Result.TtftMs > 5_000).ToList();
        output.WriteLine($"gateway rescues during the drill: {retried:0} retries before the first token, {continued:0} streams continued after it; {stuck.Count} requests waited over 5 s for their first token (longest {GatewayChat.Ms(stuck.Count == 0 ? 0 : stuck.Max(r => r.Result.TtftMs))})");
        foreach (var phase in new[] { "before", "hung", "after" })
        {
            output.WriteLine(traffic.Describe(phase));
        }

        Assert.Equal(
            [EventKind.Detected, EventKind.DrainStarted, EventKind.DrainCompleted, EventKind.RestartRequested, EventKind.Recovered, EventKind.Undrained],
            timeline.Select(e => e.Kind));
        Assert.Equal("hung", timeline[0].Source);
        Assert.Contains("deep probe (1-token generation) failed", timeline[0].Reason, StringComparison.Ordinal);
        Assert.NotEqual(pidBefore, pidAfter);
        Assert.True(WatchdogApi.Since(undrained!, faultAt) < BackInServiceBound,
            $"back in service {WatchdogApi.Since(undrained!, faultAt).TotalSeconds:0.0} s after the fault (target 30 s, bound {BackInServiceBound.TotalSeconds:0} s)");

        // Every client request completed with all its tokens, those caught on the hung engine included: the gateway
        // rescued at least the ones running there when it hung.
        Assert.True(traffic.Results.All(r => r.Result.Ok), "requests failed: " + Traffic.Failures(traffic.Results));
        Assert.All(traffic.Results, r => Assert.Equal(64, r.Result.CompletionTokens));
        Assert.True(retried + continued >= 1, "no request was retried or continued: none was caught on the hung engine");

        async Task<double> RunningAsync() => EngineLoad.Sum(await http.GetStringAsync(new Uri(engine, "metrics"), ct), "vllm:num_requests_running");

        async Task SetFaultsAsync(object faults)
        {
            using var response = await http.PostAsJsonAsync(new Uri(engine, "admin/faults"), faults, CancellationToken.None);
            response.EnsureSuccessStatusCode();
        }
    }
}
