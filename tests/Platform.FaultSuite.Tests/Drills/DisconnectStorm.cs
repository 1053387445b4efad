using System.Diagnostics;
using System.Net.Http.Json;
using System.Text.Json;

namespace Platform.FaultSuite.Drills;

/// <summary>
/// One wave of the storm: how many clients went away at once, and how long the engines took to let go. Where the time
/// went, from the moment the clients cancel: every client's request ended (<see cref="ClientsEndedMs"/>), the gateway
/// holds no engine request any more (<see cref="GatewayReleasedMs"/>, its <c>/admin/fleet</c> in-flight counts), and
/// each engine is back at zero (<see cref="EngineReleasedMs"/>, engine id to milliseconds); NaN when not seen.
/// </summary>
internal sealed record StormWave(
    string Name, int Streams, double PeakRunning, double PeakWaiting, double TimeToBaselineMs, int ClientCancelled, int EndedOtherwise,
    double ClientsEndedMs, double GatewayReleasedMs, IReadOnlyDictionary<string, double> EngineReleasedMs);

/// <summary>
/// A storm of client disconnects through the gateway: one wave of clients that go away while they wait for the first
/// token (every engine hung: requests are accepted, counted as running or waiting, and never answered), one wave that
/// goes away mid-stream (every stream has its first content). Each wave is cancelled at once; the engines'
/// <c>vllm:num_requests_running</c> + <c>_waiting</c> are read every few milliseconds until they are back at the
/// baseline measured before the storm.
/// </summary>
internal static partial class DisconnectStorm
{
    private static readonly string[] GatewayRetrySeries = ["platform_gateway_upstream_failures_total", "platform_gateway_retries_total"];

    public static async Task<(double Baseline, StormWave WaitingForFirstToken, StormWave MidStream)> RunAsync(
        PlatformProcess platform, int streams, Action<string> log, CancellationToken ct)
    {
        using var http = GatewayChat.CreateClient();
        using var metrics = new HttpClient();
        using var admin = new HttpClient { BaseAddress = platform.Gateway };
        admin.DefaultRequestHeaders.Authorization = new System.Net.Http.Headers.AuthenticationHeaderValue("Bearer", PlatformProcess.AdminKey);
        var engines = platform.Engines.Values.ToList();
        var engineIds = platform.Engines.Keys.ToList();
        var baseline = await WaitForBaselineAsync(metrics, engines, TimeSpan.FromSeconds(60), ct);
        log($"baseline before the storm: {baseline} running + waiting over {engines.Count} engines");

        var half = streams / 2;
        await SetFaultsAsync(metrics, engines, new { hang = true, lieHealth = true }, ct);
        StormWave waiting;
        try
        {
            waiting = await WaveAsync("waiting for the first token", half, maxTokens: 64, untilFirstContent: false);
        }
        finally
        {
            await SetFaultsAsync(metrics, engines, new { }, CancellationToken.None);
        }

        await WaitForBaselineAsync(metrics, engines, TimeSpan.FromSeconds(30), ct);
        var midStream = await WaveAsync("mid-stream", streams - half, maxTokens: 4000, untilFirstContent: true);
        return (baseline, waiting, midStream);

        async Task<StormWave> WaveAsync(string name, int count, int maxTokens, bool untilFirstContent)
        {
            using var storm = CancellationTokenSource.CreateLinkedTokenSource(ct);
            var started = 0;
            var tasks = new Task<ChatResult>[count];
            for (var i = 0; i < count; i++)
            {
                var prompt = (i % 2 == 0 ? GatewayChat.GeneralPrompt : GatewayChat.CodePrompt) + $" (#{i})";
                tasks[i] = Task.Run(() => GatewayChat.StreamAsync(http, platform.Gateway, platform.ApiKey, prompt, maxTokens, storm.Token, () => Interlocked.Increment(ref started)), ct);
            }

            // Every request must be in flight before the storm: at the engines (hung), or streaming (mid-stream).
            double peakRunning = 0, peakWaiting = 0;
            var clock = Stopwatch.StartNew();
            while (true)
            {
                var (running, waiting) = await EngineLoad.ReadAsync(metrics, engines, ct);
                peakRunning = Math.Max(peakRunning, running);
                peakWaiting = Math.Max(peakWaiting, waiting);
                var ready = untilFirstContent ? Volatile.Read(ref started) >= count : running + waiting >= baseline + count;
                if (ready)
                {
                    break;
                }

                var early = tasks.Where(t => t.IsCompleted).Select(t => t.Result).ToList();
                if (early.Count > 0)
                {
                    throw new InvalidOperationException($"{name}: {early.Count} requests ended before the storm: "
                        + string.Join(", ", early.GroupBy(r => (r.End, r.Status)).Select(g => $"{g.Key.End}/{g.Key.Status} x{g.Count()}")));
                }

                if (clock.Elapsed > TimeSpan.FromSeconds(90))
                {
                    throw new TimeoutException($"{name}: {count} requests not all in flight after 90 s (engines: {running} running, {waiting} waiting; {started} streaming)");
                }

                await Task.Delay(10, ct);
            }

            // On a loaded machine a read sent before the last requests reached the engines can come back after every
            // stream started (a run saw 100 streaming and "0 running"): the peaks take one more read, with all in flight.
            var (runningNow, waitingNow) = await EngineLoad.ReadAsync(metrics, engines, ct);
            peakRunning = Math.Max(peakRunning, runningNow);
            peakWaiting = Math.Max(peakWaiting, waitingNow);
            log($"{name}: {count} requests in flight after {clock.Elapsed.TotalSeconds:0.0} s (engines: {peakRunning} running, {peakWaiting} waiting); every client goes away now");
            log($"{name}: the gateway's engine-call failures and retries so far: {await GatewayRetriesAsync(metrics, platform.Gateway, ct)}");
            var storm0 = Stopwatch.GetTimestamp();
            await storm.CancelAsync();

            // Three independent watches, so a slow answer from one side never delays the reading of another: the
            // clients' requests, the gateway's in-flight engine requests, and the engines' gauges (the figure).
            var clientsEnded = Task.WhenAll(tasks).ContinueWith(_ => Stopwatch.GetElapsedTime(storm0).TotalMilliseconds, TaskScheduler.Default);
            using var watch = CancellationTokenSource.CreateLinkedTokenSource(ct);
            watch.CancelAfter(TimeSpan.FromSeconds(60));
            var gatewaySeries = new List<(double Ms, int InFlight)>();
            var engineSeries = new List<(double Ms, double Load)>();
            var gatewayReleased = WatchGatewayAsync(admin, storm0, gatewaySeries, watch.Token);
            var engineReleased = engineIds.ToDictionary(id => id, _ => double.NaN);
            double toBaseline;
            while (true)
            {
                var loads = await Task.WhenAll(engines.Select(e => EngineLoad.ReadAsync(metrics, [e], ct)));
                var elapsed = Stopwatch.GetElapsedTime(storm0).TotalMilliseconds;
                engineSeries.Add((elapsed, loads.Sum(l => l.Running + l.Waiting)));
                for (var i = 0; i < loads.Length; i++)
                {
                    if (double.IsNaN(engineReleased[engineIds[i]]) && loads[i].Running + loads[i].Waiting == 0)
                    {
                        engineReleased[engineIds[i]] = elapsed;
                    }
                }

                if (loads.Sum(l => l.Running + l.Waiting) <= baseline)
                {
                    toBaseline = elapsed;
                    break;
                }

                if (Stopwatch.GetElapsedTime(storm0) > TimeSpan.FromSeconds(60))
                {
                    throw new TimeoutException($"{name}: engines still report {loads.Sum(l => l.Running)} running, {loads.Sum(l => l.Waiting)} waiting 60 s after every client went away");
                }

                await Task.Delay(5, ct);
            }

            var results = await Task.WhenAll(tasks);
            var cancelled = results.Count(r => r.End == ChatEnd.ClientCancelled);
            log($"{name}: engines back to baseline {toBaseline:0} ms after {count} clients went away ({cancelled} cancelled by their client, {count - cancelled} ended otherwise)");
            var clientsMs = await clientsEnded;
            var gatewayMs = await gatewayReleased;
            log($"{name}: every client's request ended {clientsMs:0} ms, the gateway held no engine request {gatewayMs:0} ms, engines at zero: "
                + string.Join(", ", engineReleased.Select(e => $"{e.Key} {e.Value:0} ms")));
            log($"{name}: engines over time: " + string.Join(" ", engineSeries.Select(e => $"{e.Ms:0}:{e.Load}")));
            log($"{name}: gateway in flight over time: " + string.Join(" ", gatewaySeries.Select(e => $"{e.Ms:0}:{e.InFlight}")));
            return new StormWave(name, count, peakRunning, peakWaiting, toBaseline, cancelled, count - cancelled, clientsMs, gatewayMs, engineReleased);
        }
    }

    public static async Task<double> WaitForBaselineAsync(HttpClient metrics, IReadOnlyList<Uri> engines, TimeSpan timeout, CancellationToken ct)
    {
        var clock = Stopwatch.StartNew();
        while (true)
        {
            var (running, waiting) = await EngineLoad.ReadAsync(metrics, engines, ct);
            if (running + waiting == 0)
            {
                return 0;
            }

            if (clock.Elapsed > timeout)
            {
                throw new TimeoutException($"engines not idle within {timeout.TotalSeconds:0} s: {running} running, {waiting} waiting");
            }

            await Task.Delay(50, ct);
        }
    }

    /// <summary>Milliseconds from <paramref name="storm0"/> until the gateway's <c>/admin/fleet</c> shows no request in flight to any engine; NaN if not within the watch.</summary>
    private static async Task<double> WatchGatewayAsync(HttpClient admin, long storm0, List<(double Ms, int InFlight)> series, CancellationToken ct)
    {
        try
        {
            while (true)
            {
                using var fleet = JsonDocument.Parse(await admin.GetStringAsync("admin/fleet", ct));
                var inFlight = fleet.RootElement.GetProperty("engines").EnumerateArray().Sum(e => e.GetProperty("inFlight").GetInt32());
                series.Add((Stopwatch.GetElapsedTime(storm0).TotalMilliseconds, inFlight));
                if (inFlight == 0)
                {
                    return Stopwatch.GetElapsedTime(storm0).TotalMilliseconds;
                }

                await Task.Delay(5, ct);
            }
        }
        catch (OperationCanceledException)
        {
            return double.NaN;
        }
    }

    /// <summary>The gateway's <c>platform_gateway_upstream_failures_total</c> and <c>_retries_total</c> series, summed by error (how the ramp went).</summary>
    private static async Task<string> GatewayRetriesAsync(HttpClient http, Uri gateway, CancellationToken ct)
    {
        var text = await http.GetStringAsync(new Uri(gateway, "metrics"), ct);
        var sums = new SortedDictionary<string, double>(StringComparer.Ordinal);
        foreach (var line in text.Split('\n'))
        {
            foreach (var series in GatewayRetrySeries)
            {
                if (!line.StartsWith(series + "{", StringComparison.Ordinal))
                {
                    continue;
                }

                var error = ErrorLabel().Match(line).Groups[1].Value;
                var value = double.Parse(line[(line.LastIndexOf(' ') + 1)..], System.Globalization.CultureInfo.InvariantCulture);
                var key = $"{series["platform_gateway_".Length..^"_total".Length]} {error}";
                sums[key] = sums.GetValueOrDefault(key) + value;
            }
        }

        return sums.Count == 0 ? "none" : string.Join(", ", sums.Select(s => $"{s.Key} {s.Value}"));
    }

    [System.Text.RegularExpressions.GeneratedRegex("error=\"([^\"]*)\"")]
    private static partial System.Text.RegularExpressions.Regex ErrorLabel();

    private static async Task SetFaultsAsync(HttpClient http, IEnumerable<Uri> engines, object faults, CancellationToken ct) =>
        await Task.WhenAll(engines.Select(async engine =>
        {
            using var response = await http.PostAsJsonAsync(new Uri(engine, "admin/faults"), faults, ct);
            response.EnsureSuccessStatusCode();
        }));
}
