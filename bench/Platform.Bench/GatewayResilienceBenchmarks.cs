using System.Diagnostics;
using System.Globalization;
using System.Net.Http.Json;
using System.Text;

namespace Platform.Bench;

/// <summary>
/// Failure drills under load, each printing its counts: an engine crashing mid-stream, and Redis going away and
/// coming back. Every stream is classified by what the client saw: completed, refused before content with an
/// HTTP error, ended by an explicit error event, or silently truncated (the one outcome that must never happen).
/// </summary>
internal static class GatewayResilienceBenchmarks
{
    private const string Model = "llama-3.1-8b-instruct";
    private const string Prompt = "Tell me a long story about the sea.";

    public static async Task<int> CrashAsync(BenchArgs args)
    {
        var concurrency = args.Int("concurrency", 200);
        var maxTokens = args.Int("max-tokens", 200);
        var maxNumSeqs = args.Int("max-num-seqs", 48);
        using var cts = new CancellationTokenSource(TimeSpan.FromMinutes(10));
        var ct = cts.Token;

        // A batch smaller than an engine's share of the load: some requests wait in its queue (no token yet), as
        // on a busy vLLM, so the crash hits streams that had started and requests that had not.
        await using var redis = await BenchProcess.StartRedisAsync(ct);
        var engines = await StartEnginesAsync(3, ct, "--max-num-seqs", maxNumSeqs.ToString(CultureInfo.InvariantCulture));
        try
        {
            // The pipeline's own account of every failed attempt and continuation (events 3401-3403), as JSON lines,
            // joined to what each client saw by the response id.
            var log = new GatewayLog();
            await using var gateway = await GatewayProcess.StartAsync(
                "gateway", redis, [new BenchPool("enginegeneral", Model, "general", engines)], GatewayLog.Settings, ct, onOutput: log.OnLine);
            using var http = NewClient();
            const string Crashed = "enginegeneral-0";

            // Every worker runs streams back to back; engine 0 is told to crash once one of its streams has sent
            // 40 tokens, while requests of every phase (queued, streaming) are on it.
            var results = new System.Collections.Concurrent.ConcurrentBag<TrackedStream>();
            var stop = false;
            var load = Task.WhenAll(Enumerable.Range(0, concurrency).Select(async _ =>
            {
                while (!Volatile.Read(ref stop))
                {
                    results.Add(await TrackedChat.RunAsync(http, gateway.BaseUri, GatewayProcess.ApiKey, Model, Prompt, maxTokens, ct));
                }
            }));

            await Task.Delay(TimeSpan.FromSeconds(3), ct);
            try
            {
                using var crash = await http.PostAsJsonAsync(new Uri(engines[0].BaseUri, "admin/faults"), new { crashAfterTokens = 40 }, ct);
                crash.EnsureSuccessStatusCode();
            }
            catch (HttpRequestException)
            {
                // A stream already past 40 tokens made it die before it could answer the POST.
            }

            var crashedAt = Stopwatch.StartNew();
            while (!engines[0].HasExited && crashedAt.Elapsed < TimeSpan.FromSeconds(30))
            {
                await Task.Delay(20, ct);
            }

            await Task.Delay(TimeSpan.FromSeconds(5), ct);
            Volatile.Write(ref stop, true);
            await load;
            var metrics = await http.GetStringAsync(new Uri(gateway.BaseUri, "metrics"), ct);

            var all = results.ToList();
            var byId = all.Where(r => r.Id is not null).GroupBy(r => r.Id!).ToDictionary(g => g.Key, g => g.First(), StringComparer.Ordinal);
            var attempts = log.FailedAttempts();
            var continuedIds = log.Continued();

            // On the crashed engine when it died: an attempt there broke (mid-stream, or with the request sent and no
            // response yet). Attempts refused by the dead engine's closed port came later and are counted apart.
            var onCrashed = attempts.Where(a => a.Engine == Crashed && !a.ConnectionRefused).Select(a => a.RequestId).ToHashSet(StringComparer.Ordinal);
            var sentToDead = attempts.Where(a => a.Engine == Crashed && a.ConnectionRefused).Select(a => a.RequestId).Except(onCrashed).ToHashSet(StringComparer.Ordinal);
            var uncut = all.Where(r => r.Outcome == TrackedOutcome.Completed && r.Id is not null && !attempts.Any(a => a.RequestId == r.Id)).ToList();
            var promptTokens = uncut.GroupBy(r => r.PromptTokens).OrderByDescending(g => g.Count()).Select(g => g.Key).FirstOrDefault();

            int started = 0, continued = 0, lastTokensOnly = 0, startedErrors = 0, startedTruncated = 0, implausible = 0;
            int notStarted = 0, retried = 0, notStartedFailed = 0;
            var continuedStreams = new List<TrackedStream>();
            foreach (var id in onCrashed)
            {
                if (!byId.TryGetValue(id, out var r))
                {
                    // No response id reached the client: it was refused before any content.
                    notStarted++;
                    notStartedFailed++;
                    continue;
                }

                if (r.Engine == Crashed)
                {
                    started++;
                    switch (r.Outcome)
                    {
                        case TrackedOutcome.Completed when !continuedIds.Contains(id):
                            lastTokensOnly++;
                            break;
                        case TrackedOutcome.Completed:
                            continued++;
                            continuedStreams.Add(r);
                            implausible += r.Plausible(maxTokens, promptTokens) ? 0 : 1;
                            break;
                        case TrackedOutcome.ErrorEvent:
                            startedErrors++;
                            break;
                        default:
                            startedTruncated++;
                            break;
                    }
                }
                else
                {
                    notStarted++;
                    if (r.Outcome == TrackedOutcome.Completed)
                    {
                        retried++;
                    }
                    else
                    {
                        notStartedFailed++;
                    }
                }
            }

            var sentToDeadOk = sentToDead.Count(id => byId.TryGetValue(id, out var r) && r.Outcome == TrackedOutcome.Completed);
            var total = (Completed: all.Count(r => r.Outcome == TrackedOutcome.Completed), Refused: all.Count(r => r.Outcome == TrackedOutcome.Refused),
                Errors: all.Count(r => r.Outcome == TrackedOutcome.ErrorEvent), Truncated: all.Count(r => r.Outcome == TrackedOutcome.Truncated));
            var uncutChunks = uncut.Select(r => r.ContentChunks).DefaultIfEmpty().ToList();
            var cutChunks = continuedStreams.Select(r => r.ContentChunks).DefaultIfEmpty().ToList();
            static string Share(int part, int whole) => whole == 0 ? "-" : $"{100.0 * part / whole:F0}%";

            var report = new StringBuilder()
                .AppendLine(CultureInfo.InvariantCulture, $"## Engine crash mid-stream under load ({concurrency} concurrent streams of {maxTokens} tokens, 3 engines of --max-num-seqs {maxNumSeqs}, {Environment.ProcessorCount} cores)")
                .AppendLine()
                .AppendLine(CultureInfo.InvariantCulture, $"Engine 0 exited: {engines[0].HasExited} (exit code {engines[0].ExitCodeOrNull?.ToString(CultureInfo.InvariantCulture) ?? "-"}), crashAfterTokens = 40.")
                .AppendLine("Per request: the client's view (response id, `x-platform-engine` of the first content, how the stream ended) joined")
                .AppendLine("by id to the gateway's log of failed attempts (3401) and continuations (3402).")
                .AppendLine()
                .AppendLine("| streams on the crashed engine when it died | count | |")
                .AppendLine("| --- | --- | --- |")
                .AppendLine(CultureInfo.InvariantCulture, $"| **on the crashed engine** | **{onCrashed.Count}** | |")
                .AppendLine(CultureInfo.InvariantCulture, $"| had started streaming | {started} | |")
                .AppendLine(CultureInfo.InvariantCulture, $"| → completed by continuation on another engine | {continued} | {Share(continued, started - lastTokensOnly)} of those cut (target 100%) |")
                .AppendLine(CultureInfo.InvariantCulture, $"| → completed: every token had arrived, only the end of stream was lost | {lastTokensOnly} | |")
                .AppendLine(CultureInfo.InvariantCulture, $"| → ended with an explicit error event | {startedErrors} | |")
                .AppendLine(CultureInfo.InvariantCulture, $"| → **silently truncated** | **{startedTruncated}** | must be 0 |")
                .AppendLine(CultureInfo.InvariantCulture, $"| had not started streaming | {notStarted} | |")
                .AppendLine(CultureInfo.InvariantCulture, $"| → completed elsewhere by retry before the first token | {retried} | {Share(retried, notStarted)} |")
                .AppendLine(CultureInfo.InvariantCulture, $"| → failed | {notStartedFailed} | must be 0 |")
                .AppendLine(CultureInfo.InvariantCulture, $"| sent to the dead engine after the crash (connection refused), retried elsewhere | {sentToDeadOk} of {sentToDead.Count} completed | |")
                .AppendLine()
                .AppendLine(CultureInfo.InvariantCulture, $"Continued streams checked: {continued - implausible} of {continued} have completion_tokens = {maxTokens} = max_tokens, prompt_tokens = {promptTokens} (as uncut streams),")
                .AppendLine(CultureInfo.InvariantCulture, $"total = prompt + completion, one response id, one role chunk, one finish_reason (\"length\"). Text chunks per stream: continued {cutChunks.Min()}-{cutChunks.Max()}, uncut {uncutChunks.Min()}-{uncutChunks.Max()} (a token whose bytes end mid-character has no text of its own).")
                .AppendLine()
                .AppendLine("| whole run (client side) | streams |")
                .AppendLine("| --- | --- |")
                .AppendLine(CultureInfo.InvariantCulture, $"| completed (all tokens, finish_reason, usage, [DONE]) | {total.Completed} |")
                .AppendLine(CultureInfo.InvariantCulture, $"| refused before content (HTTP error) | {total.Refused} |")
                .AppendLine(CultureInfo.InvariantCulture, $"| ended with an explicit error event | {total.Errors} |")
                .AppendLine(CultureInfo.InvariantCulture, $"| silently truncated | {total.Truncated} |")
                .AppendLine()
                .AppendLine(CultureInfo.InvariantCulture, $"Refused by code: {Tally(all.Where(r => r.Outcome == TrackedOutcome.Refused).Select(r => $"{r.Status} {r.ErrorCode}"))}; error events by code: {Tally(all.Where(r => r.Outcome == TrackedOutcome.ErrorEvent).Select(r => r.ErrorCode))}.")
                .AppendLine(CultureInfo.InvariantCulture, $"Gateway log events: {log.Summary()}; engines the scraper marked unreachable: {log.Unreachable()}.")
                .AppendLine()
                .AppendLine("Gateway counters:")
                .AppendLine()
                .AppendLine("```")
                .Append(Grep(metrics, "retr", "continu", "breaker", "fallback"))
                .AppendLine("```");
            Console.WriteLine(report);
            await WriteOutAsync(args, report);
            var ok = total.Truncated == 0 && startedTruncated == 0 && notStartedFailed == 0 && implausible == 0 && onCrashed.Count > 0;
            return ok ? 0 : 1;
        }
        finally
        {
            foreach (var engine in engines)
            {
                await engine.DisposeAsync();
            }
        }
    }

    public static async Task<int> RedisOutageAsync(BenchArgs args)
    {
        var concurrency = args.Int("concurrency", 64);
        var outage = TimeSpan.FromSeconds(args.Int("outage-seconds", 30));
        using var cts = new CancellationTokenSource(TimeSpan.FromMinutes(10));
        var ct = cts.Token;
        const string SideModel = "side-model";
        const string Side = "engineside-0";

        var redisPort = BenchProcess.FreePort();
        var redis = await BenchProcess.StartRedisAsync(ct, redisPort);
        var engines = await StartEnginesAsync(2, ct);
        engines.Add(await BenchProcess.StartEngineAsync("engineside", ["--model", SideModel], ct));
        try
        {
            // The load goes to the general pool through both replicas. The side pool's engine is only ever called
            // through A, to open its breaker while Redis is away: a state only A knows until Redis is back. A long
            // cool-down keeps it open (no probe) until convergence is measured.
            List<BenchPool> pools = [new("enginegeneral", Model, "general", engines[..2]), new("engineside", SideModel, "general", engines[2..])];
            var settings = new Dictionary<string, string>
            {
                [FleetView.Setting.Key] = FleetView.Setting.Value,
                ["Fleet__State__CoolDown"] = "00:01:00",
                ["Fleet__State__MaxCoolDown"] = "00:02:00",
            };
            await using var gatewayA = await GatewayProcess.StartAsync("gateway-a", redis, pools, settings, ct);
            await using var gatewayB = await GatewayProcess.StartAsync("gateway-b", redis, pools, settings, ct);
            using var http = NewClient();

            var phases = new Dictionary<string, Outcomes> { ["before"] = new(), ["outage"] = new(), ["after"] = new() };
            var phase = "before";
            var stop = false;
            var load = Task.WhenAll(Enumerable.Range(0, concurrency).Select(async worker =>
            {
                var gateway = worker % 2 == 0 ? gatewayA : gatewayB;
                while (!Volatile.Read(ref stop))
                {
                    var current = Volatile.Read(ref phase);
                    phases[current].Add(await StreamClient.ChatAsync(http, gateway.BaseUri, GatewayProcess.ApiKey, Model, Prompt, 32, ct), 32);
                }
            }));

            await Task.Delay(TimeSpan.FromSeconds(5), ct);
            Volatile.Write(ref phase, "outage");
            await redis.DisposeAsync();
            var down = Stopwatch.StartNew();

            // While Redis is away, A opens the side engine's breaker on its own.
            using (var fault = await http.PostAsJsonAsync(new Uri(engines[2].BaseUri, "admin/faults"), new { errorRate = 1.0, errorStatus = 500 }, ct))
            {
                fault.EnsureSuccessStatusCode();
            }

            var sideRequests = 0;
            FleetView viewA;
            while (true)
            {
                sideRequests++;
                await StreamClient.ChatAsync(http, gatewayA.BaseUri, GatewayProcess.ApiKey, SideModel, Prompt, 4, ct);
                viewA = await FleetView.ReadAsync(http, gatewayA, ct);
                if (viewA.Breakers[Side].State == "open" || sideRequests > 100)
                {
                    break;
                }
            }

            var openedOnA = viewA.Breakers[Side];
            var viewB = await FleetView.ReadAsync(http, gatewayB, ct);
            var duringOutage = (A: viewA.RedisAvailable, B: viewB.RedisAvailable, SideOnB: viewB.Breakers[Side].State);

            await Task.Delay(outage - down.Elapsed, ct);
            redis = await BenchProcess.StartRedisAsync(ct, redisPort);
            var backAtMs = FleetView.NowMs();
            var back = Stopwatch.StartNew();
            Volatile.Write(ref phase, "after");

            // Converged: both replicas on Redis again, and the breaker A opened during the outage is in Redis and is
            // what B routes on. Each replica's admin view is read every ~10 ms; B also says when it applied the change.
            double? availableA = null, availableB = null, inRedis = null, onB = null, appliedOnB = null;
            var trace = new List<string>();
            while (back.Elapsed < TimeSpan.FromSeconds(30) && (availableA is null || availableB is null || inRedis is null || onB is null || appliedOnB is null))
            {
                var a = await FleetView.ReadAsync(http, gatewayA, ct);
                var b = await FleetView.ReadAsync(http, gatewayB, ct);
                var stored = await RedisBreaker.ReadAsync(redis, Side, ct);
                var at = back.Elapsed.TotalMilliseconds;
                availableA ??= a.RedisAvailable ? at : null;
                availableB ??= b.RedisAvailable ? at : null;
                inRedis ??= stored is { State: "open" } s && s.Version >= openedOnA.Version ? at : null;
                if (b.Breakers[Side] is { State: "open" } seen && seen.Version >= openedOnA.Version)
                {
                    // The view may be read between the swap and the change handler: the time follows on the next read.
                    onB ??= at;
                    appliedOnB ??= seen.ChangedAtMs - backAtMs;
                }

                var step = $"{b.Breakers[Side].State} v{b.Breakers[Side].Version} applied {b.Breakers[Side].ChangedAtMs - backAtMs:F0}, Redis {stored?.State ?? "-"} v{stored?.Version}, on Redis A {a.RedisAvailable} B {b.RedisAvailable}";
                if (trace.Count == 0 || !trace[^1].EndsWith(step, StringComparison.Ordinal))
                {
                    trace.Add($"{at:F0} ms: {step}");
                }

                await Task.Delay(10, ct);
            }

            await Task.Delay(TimeSpan.FromSeconds(5), ct);
            Volatile.Write(ref stop, true);
            await load;

            static string Ms(double? ms) => ms is { } v ? $"{v:F0} ms" : "NOT within 30 s";
            var converged = new[] { availableA, availableB, inRedis, onB }.All(v => v is not null) ? new[] { availableA, availableB, inRedis, onB }.Max() : null;
            var report = new StringBuilder()
                .AppendLine(CultureInfo.InvariantCulture, $"## Redis stopped for {outage.TotalSeconds:F0} s under load (2 gateways, 2 engines, {concurrency} concurrent streams, {Environment.ProcessorCount} cores)")
                .AppendLine()
                .AppendLine("Requests by the phase they started in (each one a 32-token stream through gateway A or B):")
                .AppendLine()
                .AppendLine("| phase | completed | refused | error events | truncated | failed |")
                .AppendLine("| --- | --- | --- | --- | --- | --- |");
            foreach (var (name, o) in phases)
            {
                report.AppendLine(CultureInfo.InvariantCulture, $"| {name} | {o.Completed} | {o.Refused} | {o.ErrorEvents} | {o.Truncated} | {o.Refused + o.ErrorEvents + o.Truncated} |");
            }

            report.AppendLine()
                .AppendLine(CultureInfo.InvariantCulture, $"During the outage: A on Redis = {duringOutage.A}, B on Redis = {duringOutage.B}. The side engine (errors injected) was called through A only;")
                .AppendLine(CultureInfo.InvariantCulture, $"A opened its breaker locally after {sideRequests} requests (version {openedOnA.Version}); B still saw it {duringOutage.SideOnB}.")
                .AppendLine()
                .AppendLine("| after Redis returned (empty: no persistence) | time |")
                .AppendLine("| --- | --- |")
                .AppendLine(CultureInfo.InvariantCulture, $"| gateway A back on Redis (`redisAvailable`, the `platform_fleet_redis_available` gauge) | {Ms(availableA)} |")
                .AppendLine(CultureInfo.InvariantCulture, $"| gateway B back on Redis | {Ms(availableB)} |")
                .AppendLine(CultureInfo.InvariantCulture, $"| the breaker A opened during the outage is in Redis | {Ms(inRedis)} |")
                .AppendLine(CultureInfo.InvariantCulture, $"| B reports it open (seen by polling; B applied it at {Ms(appliedOnB)} on its own clock) | {Ms(onB)} |")
                .AppendLine(CultureInfo.InvariantCulture, $"| **converged** (all of the above; target 5 s) | **{Ms(converged)}** |")
                .AppendLine()
                .AppendLine("What B held for the side engine, and Redis, as polled after Redis returned:")
                .AppendLine()
                .AppendLine("```")
                .AppendJoin(Environment.NewLine, trace)
                .AppendLine()
                .AppendLine("```");
            Console.WriteLine(report);
            await WriteOutAsync(args, report);
            var failed = phases.Values.Sum(o => o.Refused + o.ErrorEvents + o.Truncated);
            return failed == 0 && converged is < 5000 ? 0 : 1;
        }
        finally
        {
            await redis.DisposeAsync();
            foreach (var engine in engines)
            {
                await engine.DisposeAsync();
            }
        }
    }

    private static async Task<List<BenchProcess>> StartEnginesAsync(int count, CancellationToken ct, params string[] engineArgs)
    {
        var engines = new List<BenchProcess>();
        for (var i = 0; i < count; i++)
        {
            engines.Add(await BenchProcess.StartEngineAsync($"engine{i}", ["--model", Model, "--sim-seed", (200 + i).ToString(CultureInfo.InvariantCulture), .. engineArgs], ct));
        }

        return engines;
    }

    private static string Tally(IEnumerable<string?> values)
    {
        var text = string.Join(", ", values.GroupBy(v => v ?? "none").OrderByDescending(g => g.Count()).Select(g => $"{g.Key} x{g.Count()}"));
        return text.Length == 0 ? "none" : text;
    }

    private static string Grep(string metrics, params string[] words)
    {
        var result = new StringBuilder();
        foreach (var line in metrics.Split('\n'))
        {
            if (!line.StartsWith('#') && line.StartsWith("platform_", StringComparison.Ordinal) && words.Any(w => line.Contains(w, StringComparison.Ordinal)))
            {
                result.AppendLine(line);
            }
        }

        return result.ToString();
    }

    private static HttpClient NewClient() => new(new SocketsHttpHandler { MaxConnectionsPerServer = int.MaxValue })
    {
        Timeout = Timeout.InfiniteTimeSpan,
    };

    private static async Task WriteOutAsync(BenchArgs args, StringBuilder report)
    {
        if (args.String("out") is { } path)
        {
            await File.AppendAllTextAsync(path, report.ToString() + Environment.NewLine, CancellationToken.None);
        }
    }

    /// <summary>Client-side outcome counts, thread-safe.</summary>
    private sealed class Outcomes
    {
        private int _completed;
        private int _refused;
        private int _errorEvents;
        private int _truncated;

        public int Completed => Volatile.Read(ref _completed);

        public int Refused => Volatile.Read(ref _refused);

        public int ErrorEvents => Volatile.Read(ref _errorEvents);

        public int Truncated => Volatile.Read(ref _truncated);

        public void Add(StreamResult result, int expectedTokens)
        {
            if (result.Ok && result.Tokens == expectedTokens)
            {
                Interlocked.Increment(ref _completed);
            }
            else if (result.Error is { } error && error.StartsWith("HTTP ", StringComparison.Ordinal))
            {
                Interlocked.Increment(ref _refused);
            }
            else if (result.Error == "error event")
            {
                Interlocked.Increment(ref _errorEvents);
            }
            else
            {
                Interlocked.Increment(ref _truncated);
            }
        }

        public (int Completed, int Refused, int ErrorEvents, int Truncated) Snapshot() => (Completed, Refused, ErrorEvents, Truncated);
    }
}
