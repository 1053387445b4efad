using System.Diagnostics;
using System.Globalization;
using System.Net.Http.Json;
using System.Text;

namespace Platform.Bench;

/// <summary>
/// Side-by-side gateway benchmarks: the same streaming workload direct to EngineSim and through the gateway in one
/// run (requests alternate between the two paths so both see the same engine load), and health-aware routing
/// against round-robin with one engine slowed down.
/// </summary>
internal static class GatewayBenchmarks
{
    private const string Model = "llama-3.1-8b-instruct";
    private const string Prompt = "Write a short story about a lighthouse keeper and the sea.";

    public static async Task<int> OverheadAsync(BenchArgs args)
    {
        var small = args.Int("concurrency", 64);
        var large = args.Int("large-concurrency", 1000);
        var requests = args.Int("requests", 20);
        using var cts = new CancellationTokenSource(TimeSpan.FromMinutes(15));
        var ct = cts.Token;

        // Before any process or thread exists that should inherit it.
        var defaultSlice = SchedulerSlice.Current();
        var slice = args.Int("sched-slice-us", 0) is > 0 and var us ? SchedulerSlice.Apply(TimeSpan.FromMicroseconds(us)) : defaultSlice;

        await using var redis = await BenchProcess.StartRedisAsync(ct);
        await using var engine = await BenchProcess.StartEngineAsync(
            "enginesim",
            ["--model", Model, "--max-num-seqs", "2048", "--num-gpu-blocks-override", "200000", "--max-num-batched-tokens", "65536"],
            ct);
        await using var gateway = await GatewayProcess.StartAsync(
            "gateway", redis, [new BenchPool("enginegeneral", Model, "general", [engine])], args.Settings("gateway-env"), ct, args.String("gateway-cpus"));
        using var http = NewClient();

        // Warm both paths the way a long-running service is warm: tiered JIT done, connection pools filled.
        var warmup = args.Int("warmup", 2000);
        var warm = await RunAlternatingAsync(http, engine, gateway, small, requestsPerWorker: Math.Max(2, warmup / small), maxTokens: 16, Workload.Synchronized, ct);
        var workload = args.Flag("synchronized") ? Workload.Synchronized : Workload.SteadyState;

        var report = new StringBuilder()
            .AppendLine(CultureInfo.InvariantCulture, $"## Gateway overhead: direct to EngineSim vs through the gateway ({Environment.ProcessorCount} cores)")
            .AppendLine()
            .AppendLine("Requests alternate between the two paths on every worker, so both see the same engine load.")
            .AppendLine(CultureInfo.InvariantCulture, $"CPU placement: {(args.String("gateway-cpus") is { } cpus ? $"gateway on core(s) {cpus}; load generator, engine and Redis on {Affinity()}" : "all processes share every core")}.")
            .AppendLine(CultureInfo.InvariantCulture, $"Scheduler slice: {Slice(slice)} for every process{(slice == defaultSlice ? " (the kernel's default)" : $" (--sched-slice-us; the kernel's default is {Slice(defaultSlice)})")}.")
            .AppendLine(workload == Workload.SteadyState
                ? "Workload: steady state. Each worker starts at a random point of one request's duration and asks for a random 50-150% of the phase's tokens, so requests start and end at all times, as with independent users; a worker's first request (the ramp) is not counted."
                : "Workload: synchronized (--synchronized). Every worker starts at once and asks for the same tokens, so all streams end in the same engine step and the next requests race each other for the following steps.")
            .AppendLine();

        var a = await RunAlternatingAsync(http, engine, gateway, small, requestsPerWorker: requests, maxTokens: 64, workload, ct, warm);
        report.AppendLine(CultureInfo.InvariantCulture, $"### {small} concurrent streams, {TokensPerRequest(workload, 64)} each")
            .AppendLine()
            .AppendLine("| figure | direct | gateway | difference |")
            .AppendLine("| --- | --- | --- | --- |")
            .AppendLine(CultureInfo.InvariantCulture, $"| requests ok / errors | {a.Direct.Ok} / {a.Direct.Errors} | {a.Gateway.Ok} / {a.Gateway.Errors} | |")
            .AppendLine(CultureInfo.InvariantCulture, $"| TTFT p50 | {a.Direct.Ttft(0.50):F2} ms | {a.Gateway.Ttft(0.50):F2} ms | +{a.Gateway.Ttft(0.50) - a.Direct.Ttft(0.50):F2} ms |")
            .AppendLine(CultureInfo.InvariantCulture, $"| TTFT p99 | {a.Direct.Ttft(0.99):F2} ms | {a.Gateway.Ttft(0.99):F2} ms | +{a.Gateway.Ttft(0.99) - a.Direct.Ttft(0.99):F2} ms |")
            .AppendLine(CultureInfo.InvariantCulture, $"| tokens/s per stream (mean) | {a.Direct.DecodeRate():F1} | {a.Gateway.DecodeRate():F1} | ratio {a.Gateway.DecodeRate() / a.Direct.DecodeRate():F3} |")
            .AppendLine(CultureInfo.InvariantCulture, $"| engine's wait as the gateway saw it (Server-Timing) p50 / p99 | | {a.Gateway.EngineWait(0.50):F2} / {a.Gateway.EngineWait(0.99):F2} ms | |")
            .AppendLine(CultureInfo.InvariantCulture, $"| gateway's own time to first token (Server-Timing) p50 / p99 | | {a.Gateway.GatewayTime(0.50):F3} / {a.Gateway.GatewayTime(0.99):F3} ms | |")
            .AppendLine()
            .AppendLine("The difference column is end to end: it includes the extra loopback hops and every wait for a core on this")
            .AppendLine("machine. The Server-Timing row is the time the gateway itself spent on the request before its first token went out")
            .AppendLine("(from the request reaching the API, authentication and parsing included, minus the engine's wait).")
            .AppendLine();

        // Memory per open stream: idle RSS before this phase's connections exist, then every worker's request
        // through the gateway at once, so each of them holds both of its connections (client side and engine side)
        // open at the peak and the fixed part of the growth (the GC's allocation budget) weighs as little as it can.
        // The synchronized run after it fills the direct path's pool too and gives the steady state its pace.
        var idleRss = gateway.ResidentBytes();
        var memory = await RunAlternatingAsync(http, engine, gateway, large, requestsPerWorker: 1, maxTokens: 128, Workload.Synchronized, ct, gatewayOnly: true);
        var held = await RunAlternatingAsync(http, engine, gateway, large, requestsPerWorker: 2, maxTokens: 128, Workload.Synchronized, ct);
        var b = await RunAlternatingAsync(http, engine, gateway, large, requestsPerWorker: 2, maxTokens: 128, workload, ct, held);
        report.AppendLine(CultureInfo.InvariantCulture, $"### {large:N0} concurrent streams, {TokensPerRequest(workload, 128)} each")
            .AppendLine()
            .AppendLine("| figure | direct | gateway | ratio |")
            .AppendLine("| --- | --- | --- | --- |")
            .AppendLine(CultureInfo.InvariantCulture, $"| requests ok / errors | {b.Direct.Ok} / {b.Direct.Errors} | {b.Gateway.Ok} / {b.Gateway.Errors} | |")
            .AppendLine(CultureInfo.InvariantCulture, $"| TTFT p50 | {b.Direct.Ttft(0.50):F1} ms | {b.Gateway.Ttft(0.50):F1} ms | {b.Gateway.Ttft(0.50) / b.Direct.Ttft(0.50):F3} |")
            .AppendLine(CultureInfo.InvariantCulture, $"| TTFT p99 | {b.Direct.Ttft(0.99):F1} ms | {b.Gateway.Ttft(0.99):F1} ms | {b.Gateway.Ttft(0.99) / b.Direct.Ttft(0.99):F3} |")
            .AppendLine(CultureInfo.InvariantCulture, $"| tokens/s per stream (mean) | {b.Direct.DecodeRate():F1} | {b.Gateway.DecodeRate():F1} | {b.Gateway.DecodeRate() / b.Direct.DecodeRate():F3} |")
            .AppendLine(CultureInfo.InvariantCulture, $"| gateway's own time to first token (Server-Timing) p50 / p99 | | {b.Gateway.GatewayTime(0.50):F3} / {b.Gateway.GatewayTime(0.99):F3} ms | |")
            .AppendLine(CultureInfo.InvariantCulture, $"| gateway CPU per relayed token | | {b.GatewayCpu.TotalMicroseconds / Math.Max(1, b.GatewayTokens):F1} µs | |")
            .AppendLine(CultureInfo.InvariantCulture, $"| gateway memory per open stream (a run before this one, every request through the gateway at once: {memory.Gateway.Ok} ok / {memory.Gateway.Errors} errors) | | {(memory.GatewayPeakRss - idleRss) / 1024.0 / Math.Max(1, memory.PeakGatewayOpen):F1} KiB ({memory.PeakGatewayOpen} open, RSS {idleRss / 1048576.0:F0} → {memory.GatewayPeakRss / 1048576.0:F0} MiB) | |");

        Console.WriteLine(report);
        await WriteOutAsync(args, report);
        return a.Direct.Errors + a.Gateway.Errors + memory.Gateway.Errors + b.Direct.Errors + b.Gateway.Errors == 0 ? 0 : 1;
    }

    public static async Task<int> RoutingAsync(BenchArgs args)
    {
        // Long prompts at a moderate concurrency: an engine's slowdown shows in its prefill, and six processes on a
        // small machine at higher concurrency make every TTFT mostly a wait for a core, whichever engine serves it.
        var concurrency = args.Int("concurrency", 16);
        var requests = args.Int("requests", 40);
        var warmup = args.Int("warmup", 4);
        var slowdown = args.Double("slowdown", 4);
        var affinity = args.String("prefix-affinity") is "true";
        var promptTokens = args.Int("prompt-tokens", 1024);
        using var cts = new CancellationTokenSource(TimeSpan.FromMinutes(20));
        var ct = cts.Token;

        await using var redis = await BenchProcess.StartRedisAsync(ct);
        var engines = new List<BenchProcess>();
        var gateways = new List<BenchProcess>();
        try
        {
            for (var i = 0; i < 3; i++)
            {
                engines.Add(await BenchProcess.StartEngineAsync($"engine{i}", ["--model", Model, "--sim-seed", (100 + i).ToString(CultureInfo.InvariantCulture)], ct));
            }

            using var http = NewClient();
            using (var slow = await http.PostAsJsonAsync(new Uri(engines[0].BaseUri, "admin/faults"), new { slowdown }, ct))
            {
                slow.EnsureSuccessStatusCode();
            }

            var pool = new BenchPool("enginegeneral", Model, "general", engines);
            RoutingVariant[] variants =
            [
                new("round-robin", "round-robin", LatencyAware: false),
                new("power-of-two-choices, load only (before)", "power-of-two-choices", LatencyAware: false),
                new("power-of-two-choices, latency-aware", "power-of-two-choices", LatencyAware: true),
            ];
            foreach (var (variant, i) in variants.Select((v, i) => (v, i)))
            {
                // Prefix affinity would send every request of a one-prompt workload to one engine whatever the policy;
                // it is off unless asked for, so the policy alone decides.
                gateways.Add(await GatewayProcess.StartAsync($"gateway{i}", redis, [pool], new Dictionary<string, string>
                {
                    ["Gateway__Routing__Policy"] = variant.Policy,
                    ["Gateway__Routing__PrefixAffinity"] = affinity ? "true" : "false",
                    ["Gateway__Routing__LatencyAware"] = variant.LatencyAware ? "true" : "false",
                }, ct));
            }

            // Every worker takes the gateways in turn, request by request, so every variant sees the same engines and
            // the same machine at the same moments (a neighbour's build, a GC) and gets the same number of requests.
            // Run one after the other instead, a closed loop would hand the better routing more throughput, hence
            // more CPU contention on a small machine, and each a different slice of noise. Sharing the engines is
            // conservative for the health-aware side: the slowed engine is queued by the other gateways' traffic, not
            // its own, and the other engines carry everyone's load.
            var loadBefore = LoadAverage();
            var prompts = new PromptSource(promptTokens);
            await RunInterleavedAsync(http, gateways.ToArray(), concurrency, warmup, variants.Select(_ => new PathStats()).ToArray(), prompts, ct);
            var results = variants.Select(_ => new PathStats()).ToArray();
            await RunInterleavedAsync(http, gateways.ToArray(), concurrency, requests, results, prompts, ct);
            var loadAfter = LoadAverage();

            var ids = Enumerable.Range(0, engines.Count).Select(i => $"{pool.Name}-{i}").ToArray();
            var report = new StringBuilder()
                .AppendLine(CultureInfo.InvariantCulture, $"## Health-aware routing vs round-robin: 3 engines, one slowed {slowdown}x ({Environment.ProcessorCount} cores)")
                .AppendLine()
                .AppendLine(CultureInfo.InvariantCulture, $"{concurrency} concurrent workers, each taking the {variants.Length} gateways in turn request by request: {requests} streamed requests of 64 tokens")
                .AppendLine(CultureInfo.InvariantCulture, $"per worker and gateway, after {warmup} unmeasured ones; prompts {prompts.Description}.")
                .AppendLine(CultureInfo.InvariantCulture, $"Prefix affinity {(affinity ? "on" : "off")}. Engine 0 is the slowed one. Machine load average (1 min) before / after: {loadBefore} / {loadAfter}.")
                .AppendLine()
                .AppendLine("| routing | ok / errors | TTFT p50 | TTFT p90 | TTFT p99 | TTFT p99 / round-robin | stream duration p99 | requests served by engine 0 / 1 / 2 | TTFT p99 on engine 0 / 1 / 2 |")
                .AppendLine("| --- | --- | --- | --- | --- | --- | --- | --- | --- |");
            for (var v = 0; v < variants.Length; v++)
            {
                var stats = results[v];
                var share = string.Join(" / ", ids.Select(id => $"{100.0 * stats.Served(id) / Math.Max(1, stats.Ok):F1}%"));
                var perEngine = string.Join(" / ", ids.Select(id => stats.Served(id) == 0 ? "-" : $"{stats.EngineTtft(id, 0.99):F1}"));
                report.AppendLine(CultureInfo.InvariantCulture,
                    $"| {variants[v].Label} | {stats.Ok} / {stats.Errors} | {stats.Ttft(0.5):F1} ms | {stats.Ttft(0.9):F1} ms | {stats.Ttft(0.99):F1} ms | {stats.Ttft(0.99) / results[0].Ttft(0.99):F3} | {stats.Duration(0.99):F0} ms | {share} | {perEngine} ms |");
            }

            var ratio = results[^1].Ttft(0.99) / results[0].Ttft(0.99);
            report.AppendLine()
                .AppendLine(CultureInfo.InvariantCulture, $"TTFT p99 health-aware (latency-aware) / round-robin: **{ratio:F3}** (target <= 0.5)");
            for (var v = 0; v < variants.Length; v++)
            {
                if (results[v].Errors > 0)
                {
                    report.AppendLine(CultureInfo.InvariantCulture, $"Errors of {variants[v].Label}: {results[v].ErrorKinds()}.");
                }
            }

            foreach (var process in engines.Concat(gateways).Where(p => p.HasExited))
            {
                report.AppendLine(CultureInfo.InvariantCulture, $"{process.Name} exited during the run (code {process.ExitCodeOrNull}).");
            }
            Console.WriteLine(report);
            await WriteOutAsync(args, report);
            return results.Sum(s => s.Errors) == 0 ? 0 : 1;
        }
        finally
        {
            foreach (var gateway in gateways)
            {
                await gateway.DisposeAsync();
            }

            foreach (var engine in engines)
            {
                await engine.DisposeAsync();
            }
        }
    }

    /// <summary>Each worker sends requestsPerWorker requests to every gateway, taking them in turn (starting with a different one per worker).</summary>
    private static Task RunInterleavedAsync(
        HttpClient http, BenchProcess[] gateways, int concurrency, int requestsPerWorker, PathStats[] stats, PromptSource prompts, CancellationToken ct) =>
        Task.WhenAll(Enumerable.Range(0, concurrency).Select(async worker =>
        {
            for (var r = 0; r < requestsPerWorker * gateways.Length; r++)
            {
                var g = (worker + r) % gateways.Length;
                stats[g].Add(await StreamClient.ChatAsync(http, gateways[g].BaseUri, GatewayProcess.ApiKey, Model, prompts.Next(), 64, ct));
            }
        }));

    /// <summary>
    /// Prompts of about N tokens (plus the chat template's ~45), each opening with its own number so that two share
    /// no more than the template's first cache block: TTFT then includes a real prefill, as with different users.
    /// 0: the one short prompt every time (TTFT is then about one decode step, and the prefix cache serves the rest).
    /// </summary>
    private sealed class PromptSource(int tokens)
    {
        private int _next;

        public string Description => tokens <= 0 ? $"\"{Prompt}\" every time" : $"of about {tokens} tokens (+ the chat template's), a different one per request";

        public string Next()
        {
            if (tokens <= 0)
            {
                return Prompt;
            }

            // The sentence is 13 tokens in cl100k_base.
            var text = new StringBuilder().Append(CultureInfo.InvariantCulture, $"Request {Interlocked.Increment(ref _next)}. ");
            for (var i = 0; i < Math.Max(1, tokens / 13); i++)
            {
                text.Append(Prompt).Append(' ');
            }

            return text.ToString();
        }
    }

    private static string LoadAverage()
    {
        try
        {
            return File.ReadAllText("/proc/loadavg").Split(' ')[0];
        }
        catch (IOException)
        {
            return "?";
        }
    }

    /// <summary>
    /// Runs <paramref name="requestsPerWorker"/> requests on each of <paramref name="concurrency"/> workers, alternating
    /// the two paths. Steady state: each worker first waits a random part of one request's expected duration (from
    /// <paramref name="previous"/>'s decode rate) and every request asks for a random 50-150% of
    /// <paramref name="maxTokens"/> (the same draws whichever path), so streams start and end at all times; each
    /// worker then runs one request more, and its first (the ramp) is left out of the figures.
    /// <paramref name="gatewayOnly"/>: every request through the gateway (the memory run).
    /// </summary>
    private static async Task<PhaseResult> RunAlternatingAsync(
        HttpClient http, BenchProcess engine, BenchProcess gateway, int concurrency, int requestsPerWorker, int maxTokens, Workload workload,
        CancellationToken ct, PhaseResult? previous = null, bool gatewayOnly = false)
    {
        var steady = workload == Workload.SteadyState;
        var rate = previous?.Direct.DecodeRate() is > 0 and var r ? r : 20.0;
        var expected = TimeSpan.FromSeconds(maxTokens / rate + (previous?.Direct.Ttft(0.50) ?? 0) / 1000);
        var direct = new PathStats();
        var viaGateway = new PathStats();
        long gatewayTokens = 0;
        var open = 0;
        var peakOpen = 0;
        var peakRss = gateway.ResidentBytes();
        var done = false;
        var sampler = Task.Run(async () =>
        {
            while (!Volatile.Read(ref done))
            {
                peakRss = Math.Max(peakRss, gateway.ResidentBytes());
                await Task.Delay(100, CancellationToken.None);
            }
        }, CancellationToken.None);

        var cpuBefore = gateway.CpuTime();
        await Task.WhenAll(Enumerable.Range(0, concurrency).Select(async worker =>
        {
            var random = new Random(worker);
            if (steady)
            {
                await Task.Delay(expected * random.NextDouble(), ct);
            }

            var first = steady ? -1 : 0;
            for (var r = first; r < requestsPerWorker; r++)
            {
                var tokens = steady ? random.Next(maxTokens / 2, maxTokens * 3 / 2 + 1) : maxTokens;
                var throughGateway = gatewayOnly || (worker + r) % 2 != 0;
                if (throughGateway)
                {
                    InterlockedMax(ref peakOpen, Interlocked.Increment(ref open));
                }

                var result = throughGateway
                    ? await StreamClient.ChatAsync(http, gateway.BaseUri, GatewayProcess.ApiKey, Model, Prompt, tokens, ct)
                    : await StreamClient.ChatAsync(http, engine.BaseUri, null, Model, Prompt, tokens, ct);
                if (throughGateway)
                {
                    Interlocked.Decrement(ref open);
                    Interlocked.Add(ref gatewayTokens, Math.Max(0, result.Tokens));
                }

                if (r >= 0)
                {
                    (throughGateway ? viaGateway : direct).Add(result);
                }
            }
        }));
        var cpu = gateway.CpuTime() - cpuBefore;
        Volatile.Write(ref done, true);
        await sampler;
        return new PhaseResult(direct, viaGateway, cpu, gatewayTokens, peakRss, peakOpen);
    }

    /// <summary>The tokens a request asks for, as <see cref="RunAlternatingAsync"/> draws them.</summary>
    private static string TokensPerRequest(Workload workload, int maxTokens) =>
        workload == Workload.SteadyState
            ? string.Create(CultureInfo.InvariantCulture, $"{maxTokens / 2}-{maxTokens * 3 / 2} tokens ({maxTokens} on average)")
            : string.Create(CultureInfo.InvariantCulture, $"{maxTokens} tokens");

    private static string Slice(TimeSpan? slice) =>
        slice is { } s ? string.Create(CultureInfo.InvariantCulture, $"{s.TotalMicroseconds:F0} µs") : "unknown";

    /// <summary>The cores this process may run on (Cpus_allowed_list), which the engine and Redis inherit.</summary>
    internal static string Affinity()
    {
        try
        {
            var line = File.ReadLines("/proc/self/status").FirstOrDefault(l => l.StartsWith("Cpus_allowed_list:", StringComparison.Ordinal));
            return line?.Split(':', 2)[1].Trim() ?? "all cores";
        }
        catch (IOException)
        {
            return "all cores";
        }
    }

    private static void InterlockedMax(ref int target, int value)
    {
        int current;
        while (value > (current = Volatile.Read(ref target)) && Interlocked.CompareExchange(ref target, value, current) != current)
        {
        }
    }

    private static HttpClient NewClient() => new(new SocketsHttpHandler
    {
        MaxConnectionsPerServer = int.MaxValue,
        PooledConnectionIdleTimeout = TimeSpan.FromMinutes(5),
        ConnectTimeout = TimeSpan.FromSeconds(30),
    })
    { Timeout = Timeout.InfiniteTimeSpan };

    private static async Task WriteOutAsync(BenchArgs args, StringBuilder report)
    {
        if (args.String("out") is { } path)
        {
            await File.AppendAllTextAsync(path, report.ToString() + Environment.NewLine, CancellationToken.None);
        }
    }

    private sealed record RoutingVariant(string Label, string Policy, bool LatencyAware);

    /// <summary>What the figures count (requests after the ramp) and, for the gateway's CPU, every token it relayed in the phase.</summary>
    private sealed record PhaseResult(PathStats Direct, PathStats Gateway, TimeSpan GatewayCpu, long GatewayTokens, long GatewayPeakRss, int PeakGatewayOpen);

    private enum Workload
    {
        /// <summary>Requests start and end at all times (random start offsets and lengths); the default.</summary>
        SteadyState,

        /// <summary>All workers start together with equal lengths, so they stay in step (--synchronized).</summary>
        Synchronized,
    }

    /// <summary>Results of one path, thread-safe.</summary>
    private sealed class PathStats
    {
        private readonly Lock _lock = new();
        private readonly List<double> _ttft = [];
        private readonly List<double> _duration = [];
        private double _decodeTokens;
        private double _decodeSeconds;
        private readonly List<double> _gatewayMs = [];
        private readonly List<double> _engineMs = [];
        private readonly Dictionary<string, List<double>> _ttftByEngine = new(StringComparer.Ordinal);
        private readonly Dictionary<string, int> _errorKinds = new(StringComparer.Ordinal);

        public int Ok { get; private set; }

        public int Errors { get; private set; }

        public long Tokens { get; private set; }

        public void Add(StreamResult result)
        {
            lock (_lock)
            {
                if (!result.Ok)
                {
                    Errors++;
                    var kind = result.Error ?? "unknown";
                    _errorKinds[kind] = _errorKinds.GetValueOrDefault(kind) + 1;
                    return;
                }

                Ok++;
                Tokens += result.Tokens;
                _ttft.Add(result.TtftMs);
                _duration.Add(result.DurationMs);
                if (!double.IsNaN(result.GatewayMs))
                {
                    _gatewayMs.Add(result.GatewayMs);
                    _engineMs.Add(result.EngineMs);
                }
                if (result.Engine is { } engine)
                {
                    if (!_ttftByEngine.TryGetValue(engine, out var list))
                    {
                        _ttftByEngine[engine] = list = [];
                    }

                    list.Add(result.TtftMs);
                }

                if (result.DurationMs > result.TtftMs)
                {
                    // Summed, not averaged per stream: a stream whose last tokens arrived in one read has a decode
                    // time near zero and would dominate a mean of per-stream rates.
                    _decodeTokens += result.Tokens - 1;
                    _decodeSeconds += (result.DurationMs - result.TtftMs) / 1000.0;
                }
            }
        }

        public double Ttft(double p)
        {
            lock (_lock)
            {
                return StreamClient.Percentile(_ttft, p);
            }
        }

        /// <summary>Percentile of the gateway's own time to first token (Server-Timing), NaN when none reported.</summary>
        public double GatewayTime(double p)
        {
            lock (_lock)
            {
                return StreamClient.Percentile(_gatewayMs, p);
            }
        }

        /// <summary>Percentile of the engine's wait as the gateway saw it (Server-Timing).</summary>
        public double EngineWait(double p)
        {
            lock (_lock)
            {
                return StreamClient.Percentile(_engineMs, p);
            }
        }

        public string ErrorKinds()
        {
            lock (_lock)
            {
                return string.Join(", ", _errorKinds.OrderByDescending(e => e.Value).Select(e => $"{e.Key} x {e.Value}"));
            }
        }

        /// <summary>Successful requests the engine served (by the gateway's x-platform-engine header).</summary>
        public int Served(string engine)
        {
            lock (_lock)
            {
                return _ttftByEngine.TryGetValue(engine, out var list) ? list.Count : 0;
            }
        }

        public double EngineTtft(string engine, double p)
        {
            lock (_lock)
            {
                return _ttftByEngine.TryGetValue(engine, out var list) ? StreamClient.Percentile(list, p) : double.NaN;
            }
        }

        public double Duration(double p)
        {
            lock (_lock)
            {
                return StreamClient.Percentile(_duration, p);
            }
        }

        public double DecodeRate()
        {
            lock (_lock)
            {
                return _decodeSeconds <= 0 ? double.NaN : _decodeTokens / _decodeSeconds;
            }
        }
    }
}
