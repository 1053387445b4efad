using System.Collections.Concurrent;
using System.Globalization;
using System.Net.Http.Json;
using System.Text.RegularExpressions;
using Platform.FaultSuite.Drills;
using Platform.FaultSuite.Tests.Support;
using Platform.Watchdog.V1;

namespace Platform.FaultSuite.Tests.Faults;

/// <summary>
/// Fault 3: KV-cache drift to a phantom OOM (EngineSim <c>kvDrift</c>: usable KV blocks lost every second until the
/// process restarts) on an engine of a pool with a spare, under traffic. The watchdog's <c>kv_drift</c> detector sees
/// KV usage climb while the running requests do not, and the engine is drained and restarted while it still has most
/// of its capacity, before any request fails.
/// </summary>
[Collection(TopologyCollection.Name)]
public sealed partial class KvDriftTests(TopologyFixture fixture)
{
    private const string Victim = "enginegeneral-0";

    /// <summary>
    /// Blocks lost per second: 1,000 of the engine's 27,000 (3.7 % a second), so the detector's 0.25 rise is reached
    /// within 7 s and the engine would have no usable block left 27 s after the fault.
    /// </summary>
    private const double DriftBlocksPerSecond = 1000;

    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(60);

    private static readonly TimeSpan Bound = TimeSpan.FromSeconds(120);

    [Fact]
    public async Task KvDriftsToPhantomOom_UnderTraffic_WatchdogDrainsAndRestartsBeforeAnyRequestFails()
    {
        var ct = TestContext.Current.CancellationToken;
        var output = TestContext.Current.TestOutputHelper!;
        var platform = fixture.Platform;
        var watchdog = fixture.Watchdog;
        await fixture.WaitServingAsync(ct);
        using var http = new HttpClient();
        var engine = platform.Engines[Victim];
        var pidBefore = (await platform.ReplicaAsync(Victim, ct)).GetProperty("pid").GetInt32();
        var totalBlocks = double.Parse(NumGpuBlocks().Match(await http.GetStringAsync(new Uri(engine, "metrics"), ct)).Groups[1].Value, CultureInfo.InvariantCulture);
        var since = await watchdog.LastSequenceAsync(ct);
        var load = Readings.LoadAverage();

        // The victim's KV usage as the engine reports it, sampled through the drill (the drain is placed on it).
        var usage = new ConcurrentQueue<(DateTimeOffset At, double Usage, double Running, double Waiting)>();
        using var sampling = CancellationTokenSource.CreateLinkedTokenSource(ct);
        var sampler = Task.Run(async () =>
        {
            while (!sampling.IsCancellationRequested)
            {
                try
                {
                    var text = await http.GetStringAsync(new Uri(engine, "metrics"), sampling.Token);
                    usage.Enqueue((DateTimeOffset.UtcNow, EngineLoad.Sum(text, "vllm:kv_cache_usage_perc"), EngineLoad.Sum(text, "vllm:num_requests_running"), EngineLoad.Sum(text, "vllm:num_requests_waiting")));
                }
                catch (HttpRequestException)
                {
                    // Restarting.
                }
                catch (OperationCanceledException)
                {
                    return;
                }

                await Task.Delay(200, CancellationToken.None);
            }
        }, CancellationToken.None);

        var traffic = new Traffic(platform, workers: 8, maxTokens: 32, phase: "before");
        DateTimeOffset faultAt = default;
        var faultSet = false;
        List<Event> timeline;
        try
        {
            await traffic.WaitForAsync(40, Timeout, ct);

            // The drift must hit an engine that serves: a freshly restarted one (fault 1's crash, fault 9) can be held back
            // a while by the gateway's latency outlier ejection, which lets only probes through.
            await Wait.UntilAsync(() => Task.FromResult(traffic.In("before").Any(r => r.Result.Engine == Victim)), Timeout, $"traffic on {Victim}", ct);
            traffic.Phase = "drifting";
            faultAt = DateTimeOffset.UtcNow;
            await SetFaultsAsync(new { kvDrift = DriftBlocksPerSecond });
            faultSet = true;

            await watchdog.WaitForEventAsync(since, Victim, WatchdogApi.Ends, Bound, $"the watchdog to finish with {Victim}", ct);
            traffic.Phase = "after";
            await traffic.WaitForAsync(40, Timeout, ct);
            timeline = await watchdog.EventsSinceAsync(since, Victim, ct);
        }
        finally
        {
            await traffic.DisposeAsync();
            await sampling.CancelAsync();
            await sampler;
            if (faultSet && (await platform.ReplicaAsync(Victim, CancellationToken.None)).GetProperty("pid").GetInt32() == pidBefore)
            {
                // Not restarted: stop the loss (what is lost stays lost until a restart).
                await SetFaultsAsync(new { });
            }
        }

        output.WriteLine($"fault set (kvDrift {DriftBlocksPerSecond:0} blocks/s of {totalBlocks:0} on {Victim}) at +0.00 s; load average {load} at the start, {Readings.LoadAverage()} now");
        foreach (var e in timeline)
        {
            output.WriteLine($"{WatchdogApi.Offset(e, faultAt)}  {e.Kind,-28} {e.Source,-8} {e.Reason}");
        }

        var detected = timeline.FirstOrDefault(e => e.Kind == EventKind.Detected);
        var drainStarted = timeline.FirstOrDefault(e => e.Kind == EventKind.DrainStarted);
        if (detected is not null && drainStarted is not null)
        {
            // Usable capacity at the drain: what the drift had not taken yet (its rate times the time since the fault), and
            // the engine's own last KV usage reading before the drain (phantom blocks count as used).
            var drainAt = WatchdogApi.Since(drainStarted, faultAt);
            var usable = Math.Max(0, 1 - DriftBlocksPerSecond * drainAt.TotalSeconds / totalBlocks);
            var reading = usage.LastOrDefault(u => u.At <= drainStarted.At.ToDateTimeOffset());
            output.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"kv_drift detected {WatchdogApi.Since(detected, faultAt).TotalSeconds:0.0} s after the fault, drain started at {drainAt.TotalSeconds:0.0} s with {usable:P0} of the KV capacity still usable (the engine's last reading before it: KV usage {reading.Usage:P0}, {reading.Running:0} running, {reading.Waiting:0} waiting); peak KV usage {usage.Where(u => u.At >= faultAt).Select(u => u.Usage).DefaultIfEmpty(0).Max():P0}"));
        }

        foreach (var phase in new[] { "before", "drifting", "after" })
        {
            output.WriteLine(traffic.Describe(phase));
        }

        Assert.Equal(
            [EventKind.Detected, EventKind.DrainStarted, EventKind.DrainCompleted, EventKind.RestartRequested, EventKind.Recovered, EventKind.Undrained],
            timeline.Select(e => e.Kind));
        Assert.Equal("kv_drift", timeline[0].Source);
        Assert.NotEqual(pidBefore, (await platform.ReplicaAsync(Victim, ct)).GetProperty("pid").GetInt32());
        Assert.True(traffic.Results.All(r => r.Result.Ok), "requests failed: " + Traffic.Failures(traffic.Results));
        Assert.Contains(traffic.In("drifting"), r => r.Result.Engine == Victim);

        async Task SetFaultsAsync(object faults)
        {
            using var response = await http.PostAsJsonAsync(new Uri(engine, "admin/faults"), faults, CancellationToken.None);
            response.EnsureSuccessStatusCode();
        }
    }

    [GeneratedRegex("""vllm:cache_config_info\{[^}]*num_gpu_blocks="(\d+)""")]
    private static partial Regex NumGpuBlocks();
}
