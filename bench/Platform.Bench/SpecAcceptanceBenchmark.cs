using System.Diagnostics;
using System.Globalization;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json.Nodes;
using Grpc.Net.Client;
using Platform.Classifier.Training;
using Platform.Classifier.V1;
using HealthV1 = Platform.Health.V1;

namespace Platform.Bench;

/// <summary>
/// Speculative-decoding acceptance per pool, as the HealthScorer reports it, when the classifier routes prompts and
/// when a gateway misroutes them on purpose (<c>Gateway:Classifier:ForceKind</c>). Real processes: redis, a code pool
/// (EngineSim, code-tuned draft), a general pool (general draft), the classifier, the HealthScorer and three gateways
/// that differ only in ForceKind. Each phase runs at least one HealthScorer window plus two scrapes, so the snapshot
/// read at its end covers that phase alone; the engines' own counters over the whole phase are printed beside it.
/// </summary>
internal static class SpecAcceptanceBenchmark
{
    private const string Model = "llama-3.1-8b-instruct";
    private const string CodePool = "enginecode";
    private const string GeneralPool = "enginegeneral";

    private sealed record Phase(string Name, string Description, string Prompts, BenchProcess Gateway);

    private sealed record Counters(double Drafts, double DraftTokens, double Accepted)
    {
        public static Counters operator -(Counters a, Counters b) => new(a.Drafts - b.Drafts, a.DraftTokens - b.DraftTokens, a.Accepted - b.Accepted);

        public static Counters operator +(Counters a, Counters b) => new(a.Drafts + b.Drafts, a.DraftTokens + b.DraftTokens, a.Accepted + b.Accepted);

        public double Rate => DraftTokens > 0 ? Accepted / DraftTokens : double.NaN;

        public double MeanLength => Drafts > 0 ? 1 + (Accepted / Drafts) : double.NaN;
    }

    private sealed record PhaseResult(
        Phase Phase,
        double Seconds,
        int Ok,
        int Errors,
        Dictionary<(bool IsCode, string Pool), int> Routed,
        IReadOnlyList<HealthV1.PoolHealth> Pools,
        Dictionary<string, Counters> PhaseCounters);

    public static async Task<int> RunAsync(BenchArgs args)
    {
        var concurrency = args.Int("concurrency", 8);
        var windowSeconds = args.Int("window-seconds", 20);
        var phaseSeconds = args.Double("phase-seconds", windowSeconds + 4);
        var maxTokens = args.Int("max-tokens", 128);
        var k = args.Int("k", 4);
        var speedup = args.Double("sim-speedup", 2);
        var generalEngines = args.Int("general-engines", 2);
        if (phaseSeconds < windowSeconds + 2)
        {
            throw new ArgumentException("--phase-seconds must be at least --window-seconds + 2 (a window plus two scrapes), so a phase's snapshot covers that phase alone");
        }

        using var cts = new CancellationTokenSource(TimeSpan.FromMinutes(30));
        var ct = cts.Token;
        var c = CultureInfo.InvariantCulture;

        // Held-out prompts of the classifier's dataset (dev + test: never trained on), with their labels.
        var data = Dataset.LocateDataDirectory(args.String("data"));
        var prompts = Dataset.Load(Path.Combine(data, Dataset.DevFile)).Concat(Dataset.Load(Path.Combine(data, Dataset.TestFile))).ToList();
        var codePrompts = prompts.Where(p => p.IsCode).ToList();
        var generalPrompts = prompts.Where(p => !p.IsCode).ToList();

        Console.Error.WriteLine("starting redis, engines, classifier, HealthScorer, gateways ...");
        await using var redis = await BenchProcess.StartRedisAsync(ct);
        string[] Engine(string draft, string kind, int seed) =>
        [
            "--model", Model, "--max-model-len", "8192", "--sim-seed", seed.ToString(c), "--sim-speedup", speedup.ToString(c),
            "--speculative-config", $$"""{"method":"draft_model","model":"{{draft}}","num_speculative_tokens":{{k}}}""", "--sim-draft-kind", kind,
        ];
        var processes = new List<BenchProcess>();
        await using var cleanup = new AsyncCleanup(processes);
        var codeEngines = new List<BenchProcess> { await BenchProcess.StartEngineAsync("enginecode-0", Engine("llama-3.2-1b-code", "code", 1), ct) };
        processes.AddRange(codeEngines);
        var generalEngineList = new List<BenchProcess>();
        for (var i = 0; i < generalEngines; i++)
        {
            generalEngineList.Add(await BenchProcess.StartEngineAsync($"enginegeneral-{i}", Engine("llama-3.2-1b-instruct", "general", 2 + i), ct));
            processes.Add(generalEngineList[^1]);
        }

        BenchPool[] pools =
        [
            new(CodePool, Model, "code", codeEngines, 8192, new BenchSpeculative("llama-3.2-1b-code", "code", k)),
            new(GeneralPool, Model, "general", generalEngineList, 8192, new BenchSpeculative("llama-3.2-1b-instruct", "general", k)),
        ];

        var classifierGrpc = BenchProcess.FreePort();
        var classifierHttp = BenchProcess.FreePort();
        var classifier = await BenchProcess.StartAsync(
            "classifier", "dotnet", [BenchProcess.BuildOutput("ClassifierOutput")],
            new Dictionary<string, string>
            {
                ["Kestrel__Endpoints__http__Url"] = $"http://127.0.0.1:{classifierHttp}",
                ["Kestrel__Endpoints__grpc__Url"] = $"http://127.0.0.1:{classifierGrpc}",
                ["Logging__LogLevel__Default"] = "Warning",
            },
            new Uri($"http://127.0.0.1:{classifierHttp}"), "/health", ct);
        processes.Add(classifier);

        var scorerGrpc = BenchProcess.FreePort();
        var scorerHttp = BenchProcess.FreePort();
        var scorerEnv = GatewayProcess.CatalogEnvironment(pools);
        scorerEnv["Kestrel__Endpoints__http__Url"] = $"http://127.0.0.1:{scorerHttp}";
        scorerEnv["Kestrel__Endpoints__grpc__Url"] = $"http://127.0.0.1:{scorerGrpc}";
        scorerEnv["ConnectionStrings__redis"] = $"{redis.BaseUri.Host}:{redis.BaseUri.Port}";
        scorerEnv["HealthScorer__Window"] = TimeSpan.FromSeconds(windowSeconds).ToString("c", c);
        scorerEnv["Logging__LogLevel__Default"] = "Warning";
        var scorer = await BenchProcess.StartAsync(
            "healthscorer", "dotnet", [BenchProcess.BuildOutput("HealthScorerOutput")], scorerEnv, new Uri($"http://127.0.0.1:{scorerHttp}"), "/health", ct);
        processes.Add(scorer);

        Dictionary<string, string> GatewaySettings(string force) => new()
        {
            ["services__classifier__grpc__0"] = $"http://127.0.0.1:{classifierGrpc}",
            ["services__healthscorer__grpc__0"] = $"http://127.0.0.1:{scorerGrpc}",
            // On a shared 2-core machine the 50 ms default deadline would misroute by timeout (timeouts are general).
            ["Gateway__Classifier__Timeout"] = "00:00:01",
            ["Gateway__Classifier__ForceKind"] = force,
        };
        var routed = await GatewayProcess.StartAsync("gateway-routed", redis, pools, GatewaySettings("none"), ct);
        processes.Add(routed);
        var forcedGeneral = await GatewayProcess.StartAsync("gateway-forcegeneral", redis, pools, GatewaySettings("general"), ct);
        processes.Add(forcedGeneral);
        var forcedCode = await GatewayProcess.StartAsync("gateway-forcecode", redis, pools, GatewaySettings("code"), ct);
        processes.Add(forcedCode);

        using var channel = GrpcChannel.ForAddress($"http://127.0.0.1:{scorerGrpc}");
        var health = new HealthV1.HealthScorer.HealthScorerClient(channel);
        using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(60) };
        await WaitAsync(async () => (await health.GetFleetAsync(new HealthV1.GetFleetRequest(), cancellationToken: ct)).Engines.All(e => e.Reachable), "every engine reachable in the HealthScorer", ct);

        // What the classifier itself answers for every prompt (no deadline): routing that differs from it in phase 1 is
        // the gateway's doing (a call past its deadline, or skipped after a failure, counts as general).
        var batch = new ClassifyBatchRequest();
        foreach (var p in prompts)
        {
            var one = new ClassifyRequest();
            foreach (var (role, content) in p.Messages)
            {
                one.Messages.Add(new ChatMessage { Role = role, Content = content });
            }

            batch.Requests.Add(one);
        }

        using var classifierChannel = GrpcChannel.ForAddress($"http://127.0.0.1:{classifierGrpc}");
        var answers = (await new Classifier.V1.Classifier.ClassifierClient(classifierChannel).ClassifyBatchAsync(batch, cancellationToken: ct)).Responses;
        var codeCalledGeneral = prompts.Where((p, i) => p.IsCode && answers[i].Kind != TaskKind.Code).Count();
        var generalCalledCode = prompts.Where((p, i) => !p.IsCode && answers[i].Kind == TaskKind.Code).Count();

        Phase[] phases =
        [
            new("1 routed", "code and general prompts, routed by the classifier", "mix", routed),
            new("2 code→general", "code prompts, ForceKind=general: misrouted to the general pool", "code", forcedGeneral),
            new("3 general→code", "general prompts, ForceKind=code: misrouted to the code pool", "general", forcedCode),
        ];

        var results = new List<PhaseResult>();
        foreach (var phase in phases)
        {
            var set = phase.Prompts switch { "code" => codePrompts, "general" => generalPrompts, _ => prompts };
            Console.Error.WriteLine($"phase {phase.Name}: {phase.Description}, {phaseSeconds:F0} s ...");
            var before = await PoolCountersAsync(http, pools, ct);
            var (ok, errors, byPool, seconds) = await LoadAsync(http, phase.Gateway, set, concurrency, maxTokens, TimeSpan.FromSeconds(phaseSeconds), ct);
            var after = await PoolCountersAsync(http, pools, ct);
            var ended = DateTimeOffset.UtcNow;

            // The first snapshot produced after a scrape that began once the load had stopped.
            HealthV1.FleetSnapshot? snapshot = null;
            await WaitAsync(
                async () =>
                {
                    snapshot = await health.GetFleetAsync(new HealthV1.GetFleetRequest(), cancellationToken: ct);
                    return snapshot.Engines.All(e => e.ObservedAt is { } o && o.ToDateTimeOffset() > ended);
                },
                "a HealthScorer scrape after the phase",
                ct);
            results.Add(new PhaseResult(phase, seconds, ok, errors, byPool, [.. snapshot!.Pools], pools.ToDictionary(p => p.Name, p => after[p.Name] - before[p.Name])));
        }

        Console.WriteLine(Report(results, concurrency, maxTokens, k, windowSeconds, speedup, codePrompts.Count, generalPrompts.Count, generalEngines));
        Console.WriteLine(string.Create(c, $"The classifier itself (ClassifyBatch, no deadline) calls {codeCalledGeneral} of {codePrompts.Count} code prompts general and {generalCalledCode} of {generalPrompts.Count} general prompts code."));
        return 0;
    }

    private static string Report(List<PhaseResult> results, int concurrency, int maxTokens, int k, int windowSeconds, double speedup, int codePrompts, int generalPrompts, int generalEngines)
    {
        var c = CultureInfo.InvariantCulture;
        var sb = new StringBuilder();
        static string F(double v, string format = "F3") => double.IsNaN(v) ? "n/a" : v.ToString(format, CultureInfo.InvariantCulture);
        sb.AppendLine(c, $"spec-acceptance: pools {CodePool} (1 engine, code-tuned draft) and {GeneralPool} ({generalEngines} engines, general draft), k = {k}, EngineSim speed-up {speedup}");
        sb.AppendLine(c, $"{concurrency} concurrent chat requests of {maxTokens} tokens at most; prompts: the classifier's held-out dev + test sets ({codePrompts} code, {generalPrompts} general by label)");
        sb.AppendLine(c, $"HealthScorer window {windowSeconds} s: each figure below is its GetFleet pool view read just after the phase (Σ accepted / Σ draft tokens over the pool's engines)");
        sb.AppendLine();
        sb.AppendLine("| phase | requests ok / errors | pool | requests (code / general by label) | acceptance rate (HealthScorer) | mean acceptance length (HealthScorer) | draft tokens in window | engines' counters over the phase: rate / length |");
        sb.AppendLine("| --- | --- | --- | --- | --- | --- | --- | --- |");
        foreach (var r in results)
        {
            foreach (var pool in r.Pools)
            {
                var code = r.Routed.GetValueOrDefault((true, pool.Pool));
                var general = r.Routed.GetValueOrDefault((false, pool.Pool));
                var counters = r.PhaseCounters[pool.Pool];
                sb.AppendLine(c, $"| {r.Phase.Name} | {r.Ok} / {r.Errors} | {pool.Pool} | {code + general} ({code} / {general}) | {F(pool.SpecAcceptanceRate)} | {F(pool.SpecMeanAcceptanceLength, "F2")} | {pool.SpecDraftTokens:F0} | {F(counters.Rate)} / {F(counters.MeanLength, "F2")} |");
            }

            var fleet = Fleet(r.Pools);
            sb.AppendLine(c, $"| {r.Phase.Name} | | all pools | {r.Ok} | {F(fleet.Rate)} | {F(fleet.MeanLength, "F2")} | {fleet.DraftTokens:F0} | {F(r.PhaseCounters.Values.Aggregate((a, b) => a + b).Rate)} |");
        }

        sb.AppendLine();
        var routed = results[0];
        var codeOnCode = Pool(routed, CodePool);
        var generalOnGeneral = Pool(routed, GeneralPool);
        var codeOnGeneral = Pool(results[1], GeneralPool);
        var generalOnCode = Pool(results[2], CodePool);
        var codeRouted = routed.Routed.Where(p => p.Key.IsCode).Sum(p => p.Value);
        var codeToCode = routed.Routed.GetValueOrDefault((true, CodePool));
        var generalRouted = routed.Routed.Where(p => !p.Key.IsCode).Sum(p => p.Value);
        var generalToGeneral = routed.Routed.GetValueOrDefault((false, GeneralPool));
        sb.AppendLine(c, $"Routed by the classifier (phase 1): {codeToCode} of {codeRouted} code prompts went to {CodePool}, {generalToGeneral} of {generalRouted} general prompts to {GeneralPool}.");
        sb.AppendLine(c, $"Code prompts: acceptance {F(codeOnCode.SpecAcceptanceRate)} on the code draft (phase 1, {CodePool}) -> {F(codeOnGeneral.SpecAcceptanceRate)} misrouted to the general draft (phase 2, {GeneralPool}): {Drop(codeOnCode.SpecAcceptanceRate, codeOnGeneral.SpecAcceptanceRate)}; mean acceptance length {F(codeOnCode.SpecMeanAcceptanceLength, "F2")} -> {F(codeOnGeneral.SpecMeanAcceptanceLength, "F2")}.");
        sb.AppendLine(c, $"{CodePool}'s own acceptance: {F(codeOnCode.SpecAcceptanceRate)} (phase 1) -> {F(generalOnCode.SpecAcceptanceRate)} when general prompts are misrouted to it (phase 3): {Drop(codeOnCode.SpecAcceptanceRate, generalOnCode.SpecAcceptanceRate)}.");
        sb.AppendLine(c, $"{GeneralPool}'s acceptance: {F(generalOnGeneral.SpecAcceptanceRate)} (phase 1) -> {F(codeOnGeneral.SpecAcceptanceRate)} (phase 2): {Drop(generalOnGeneral.SpecAcceptanceRate, codeOnGeneral.SpecAcceptanceRate)}.");
        return sb.ToString();
    }

    private static HealthV1.PoolHealth Pool(PhaseResult r, string pool) => r.Pools.First(p => p.Pool == pool);

    private static Counters Fleet(IEnumerable<HealthV1.PoolHealth> pools) =>
        pools.Aggregate(new Counters(0, 0, 0), (sum, p) => sum + new Counters(p.SpecDrafts, p.SpecDraftTokens, p.SpecAcceptedTokens));

    private static string Drop(double from, double to) =>
        double.IsNaN(from) || double.IsNaN(to) ? "n/a" : string.Create(CultureInfo.InvariantCulture, $"{to - from:+0.000;-0.000} ({(to - from) / from:+0%;-0%})");

    /// <summary>Workers send chat requests in turn from a seeded shuffle of the prompts until the phase ends; each records the pool that served it (<c>x-platform-pool</c>).</summary>
    private static async Task<(int Ok, int Errors, Dictionary<(bool IsCode, string Pool), int> ByPool, double Seconds)> LoadAsync(
        HttpClient http, BenchProcess gateway, List<LabeledPrompt> prompts, int concurrency, int maxTokens, TimeSpan duration, CancellationToken ct)
    {
        var order = prompts.ToArray();
        new Random(7).Shuffle(order);
        var next = -1;
        int ok = 0, errors = 0;
        var byPool = new Dictionary<(bool, string), int>();
        var watch = Stopwatch.StartNew();
        var deadline = DateTime.UtcNow + duration;
        var uri = new Uri(gateway.BaseUri, "v1/chat/completions");
        await Task.WhenAll(Enumerable.Range(0, concurrency).Select(async _ =>
        {
            while (DateTime.UtcNow < deadline)
            {
                var prompt = order[(int)((uint)Interlocked.Increment(ref next) % (uint)order.Length)];
                var messages = new JsonArray();
                foreach (var (role, content) in prompt.Messages)
                {
                    messages.Add(new JsonObject { ["role"] = role, ["content"] = content });
                }

                var body = new JsonObject { ["model"] = Model, ["messages"] = messages, ["max_tokens"] = maxTokens, ["stream"] = false };
                using var request = new HttpRequestMessage(HttpMethod.Post, uri) { Content = new StringContent(body.ToJsonString(), Encoding.UTF8, "application/json") };
                request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", GatewayProcess.ApiKey);
                try
                {
                    using var response = await http.SendAsync(request, ct);
                    await response.Content.ReadAsByteArrayAsync(ct);
                    if (response.IsSuccessStatusCode && response.Headers.TryGetValues("x-platform-pool", out var values))
                    {
                        Interlocked.Increment(ref ok);
                        lock (byPool)
                        {
                            var key = (prompt.IsCode, values.First());
                            byPool[key] = byPool.GetValueOrDefault(key) + 1;
                        }
                    }
                    else
                    {
                        Interlocked.Increment(ref errors);
                    }
                }
                catch (HttpRequestException)
                {
                    Interlocked.Increment(ref errors);
                }
            }
        }));
        return (ok, errors, byPool, watch.Elapsed.TotalSeconds);
    }

    /// <summary>Each pool's vllm:spec_decode_* counters summed over its engines, read from their /metrics.</summary>
    private static async Task<Dictionary<string, Counters>> PoolCountersAsync(HttpClient http, BenchPool[] pools, CancellationToken ct)
    {
        var result = new Dictionary<string, Counters>(StringComparer.Ordinal);
        foreach (var pool in pools)
        {
            var sum = new Counters(0, 0, 0);
            foreach (var engine in pool.Engines)
            {
                var text = await http.GetStringAsync(new Uri(engine.BaseUri, "metrics"), ct);
                sum += new Counters(
                    Sample(text, "vllm:spec_decode_num_drafts_total"),
                    Sample(text, "vllm:spec_decode_num_draft_tokens_total"),
                    Sample(text, "vllm:spec_decode_num_accepted_tokens_total"));
            }

            result[pool.Name] = sum;
        }

        return result;
    }

    /// <summary>The sum of a counter's samples (every engine label); the name is matched exactly, so _created never counts.</summary>
    private static double Sample(string text, string name)
    {
        var sum = 0.0;
        foreach (var line in text.Split('\n'))
        {
            if (line.StartsWith(name + "{", StringComparison.Ordinal) || line.StartsWith(name + " ", StringComparison.Ordinal))
            {
                sum += double.Parse(line[(line.LastIndexOf(' ') + 1)..], CultureInfo.InvariantCulture);
            }
        }

        return sum;
    }

    private static async Task WaitAsync(Func<Task<bool>> condition, string what, CancellationToken ct)
    {
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(60);
        while (!await condition())
        {
            if (DateTime.UtcNow > deadline)
            {
                throw new TimeoutException($"timed out waiting for {what}");
            }

            await Task.Delay(100, ct);
        }
    }

    /// <summary>Stops every process the benchmark started (redis apart), newest first.</summary>
    private sealed class AsyncCleanup(List<BenchProcess> processes) : IAsyncDisposable
    {
        public async ValueTask DisposeAsync()
        {
            for (var i = processes.Count - 1; i >= 0; i--)
            {
                await processes[i].DisposeAsync();
            }
        }
    }
}
