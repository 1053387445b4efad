using System.Diagnostics;
using System.Globalization;
using System.Net.Http.Json;
using System.Text;

namespace Platform.Bench;

/// <summary>
/// Two gateway replicas on one redis-server in front of three EngineSim processes. Repeatedly, an engine is made to
/// fail (EngineSim's errorRate fault) and only replica A is sent traffic, until A opens its breaker; the time until
/// replica B holds the open breaker (what its router decides on) is measured, and B is checked to keep its requests
/// off that engine.
/// </summary>
internal static class BreakerPropagationBenchmark
{
    private const string Model = "llama-3.1-8b-instruct";
    private const string Prompt = "Say something short.";

    public static async Task<int> RunAsync(BenchArgs args)
    {
        var samples = args.Int("samples", 50);
        using var cts = new CancellationTokenSource(TimeSpan.FromMinutes(20));
        var ct = cts.Token;

        await using var redis = await BenchProcess.StartRedisAsync(ct);
        var engines = new List<BenchProcess>();
        for (var i = 0; i < 3; i++)
        {
            engines.Add(await BenchProcess.StartEngineAsync($"engine{i}", ["--model", Model, "--sim-seed", (300 + i).ToString(CultureInfo.InvariantCulture)], ct));
        }

        try
        {
            // Default breaker rules (5 consecutive failures open it), but a 1 s cool-down and a fast prober, so that
            // once the fault is lifted the breaker closes again quickly and the next sample can start. No prefix
            // affinity: the one prompt would otherwise always pick the same engine.
            var settings = new Dictionary<string, string>
            {
                [FleetView.Setting.Key] = FleetView.Setting.Value,
                ["Fleet__State__CoolDown"] = "00:00:01",
                ["Gateway__Breakers__ProbeInterval"] = "00:00:00.200",
                ["Gateway__Routing__PrefixAffinity"] = "false",
            };
            List<BenchPool> pools = [new("enginegeneral", Model, "general", engines)];
            await using var gatewayA = await GatewayProcess.StartAsync("gateway-a", redis, pools, settings, ct);
            await using var gatewayB = await GatewayProcess.StartAsync("gateway-b", redis, pools, settings, ct);
            using var http = new HttpClient(new SocketsHttpHandler { MaxConnectionsPerServer = int.MaxValue }) { Timeout = TimeSpan.FromSeconds(30) };

            for (var i = 0; i < 10; i++)
            {
                await StreamClient.ChatAsync(http, gatewayA.BaseUri, GatewayProcess.ApiKey, Model, Prompt, 1, ct);
                await StreamClient.ChatAsync(http, gatewayB.BaseUri, GatewayProcess.ApiKey, Model, Prompt, 1, ct);
            }

            var applied = new List<double>();
            var polled = new List<double>();
            int checkedOnB = 0, sentToOpenOnB = 0, failuresToOpen = 0;
            var total = Stopwatch.StartNew();
            for (var sample = 0; sample < samples; sample++)
            {
                var engineId = $"enginegeneral-{sample % engines.Count}";
                var engine = engines[sample % engines.Count];
                var baseVersion = (await FleetView.ReadAsync(http, gatewayB, ct)).Breakers[engineId].Version;

                // B is watched from now on: the first view in which it holds the breaker open at a newer version.
                using var watching = CancellationTokenSource.CreateLinkedTokenSource(ct);
                var watch = WatchAsync(http, gatewayB, engineId, baseVersion, watching.Token);

                await SetFaultsAsync(http, engine, new { errorRate = 1.0, errorStatus = 500 }, ct);
                var requests = 0;
                while (!watch.IsCompleted && (await FleetView.ReadAsync(http, gatewayA, ct)).Breakers[engineId].State == "closed")
                {
                    await Task.WhenAll(Enumerable.Range(0, 4).Select(_ => StreamClient.ChatAsync(http, gatewayA.BaseUri, GatewayProcess.ApiKey, Model, Prompt, 1, ct)));
                    requests += 4;
                }

                watching.CancelAfter(TimeSpan.FromSeconds(10));
                var (seenAtMs, seen) = await watch;
                await SetFaultsAsync(http, engine, new { }, ct);
                failuresToOpen += requests;
                if (seen.OpenedAtMs is { } opened && seen.ChangedAtMs is { } changed)
                {
                    applied.Add(changed - opened);
                    polled.Add(seenAtMs - opened);
                }

                // The engine serves again, and B's policy would send it about a third of B's requests: B must send
                // it none while the breaker A opened is still open.
                var onB = new List<string?>();
                for (var i = 0; i < 3; i++)
                {
                    onB.Add(await EngineOfAsync(http, gatewayB, ct));
                }

                if ((await FleetView.ReadAsync(http, gatewayB, ct)).Breakers[engineId] is { State: "open" } still && still.Version == seen.Version)
                {
                    checkedOnB += onB.Count;
                    sentToOpenOnB += onB.Count(e => e == engineId);
                }

                // Cool-down, one probe, closed again on both replicas.
                var closing = Stopwatch.StartNew();
                while ((await FleetView.ReadAsync(http, gatewayA, ct)).Breakers[engineId].State != "closed"
                    || (await FleetView.ReadAsync(http, gatewayB, ct)).Breakers[engineId].State != "closed")
                {
                    if (closing.Elapsed > TimeSpan.FromSeconds(60))
                    {
                        throw new TimeoutException($"the breaker of {engineId} did not close again within 60 s");
                    }

                    await Task.Delay(50, ct);
                }
            }

            var redisErrors = (A: RedisErrors(await http.GetStringAsync(new Uri(gatewayA.BaseUri, "metrics"), ct)),
                B: RedisErrors(await http.GetStringAsync(new Uri(gatewayB.BaseUri, "metrics"), ct)));
            var report = new StringBuilder()
                .AppendLine(CultureInfo.InvariantCulture, $"## Breaker propagation between two gateway replicas on one Redis ({applied.Count} samples, 3 engines, {Environment.ProcessorCount} cores, {total.Elapsed.TotalSeconds:F0} s)")
                .AppendLine()
                .AppendLine("Each sample: an engine fails every request (errorRate 1), only replica A gets traffic until it opens the engine's")
                .AppendLine(CultureInfo.InvariantCulture, $"breaker (5 consecutive failures; {(double)failuresToOpen / Math.Max(1, samples):F1} requests per sample, A retries each on another engine).")
                .AppendLine("From `opened` (A's clock when its script opened the breaker in Redis, ms) to:")
                .AppendLine()
                .AppendLine("| B holds the breaker open | p50 | p99 | max |")
                .AppendLine("| --- | --- | --- | --- |")
                .AppendLine(CultureInfo.InvariantCulture, $"| applied in B's fleet state (B's clock, `changedAtMs`; its router reads the same copy) | {P(applied, 0.50)} | {P(applied, 0.99)} | {P(applied, 1)} |")
                .AppendLine(CultureInfo.InvariantCulture, $"| seen by polling B's `GET /admin/fleet` every ~5 ms (upper bound) | {P(polled, 0.50)} | {P(polled, 0.99)} | {P(polled, 1)} |")
                .AppendLine()
                .AppendLine(CultureInfo.InvariantCulture, $"Samples (applied, ms, sorted): {string.Join(' ', applied.Order().Select(v => v.ToString("F0", CultureInfo.InvariantCulture)))}")
                .AppendLine()
                .AppendLine(CultureInfo.InvariantCulture, $"With the fault lifted and the breaker still open, B sent {sentToOpenOnB} of {checkedOnB} requests to the engine A had cut off (must be 0).")
                .AppendLine(CultureInfo.InvariantCulture, $"Redis calls that failed or took longer than `RedisTimeout` (250 ms) during the run: A {redisErrors.A}, B {redisErrors.B} (`platform_fleet_redis_errors_total`);")
                .AppendLine("a transition made then is local and reaches Redis, and B, with the next reconcile (every 0.5 s while Redis is unavailable).");
            Console.WriteLine(report);
            if (args.String("out") is { } path)
            {
                await File.AppendAllTextAsync(path, report.ToString() + Environment.NewLine, CancellationToken.None);
            }

            return applied.Count == samples && sentToOpenOnB == 0 && checkedOnB > 0 && P99(applied) < 100 ? 0 : 1;
        }
        finally
        {
            foreach (var engine in engines)
            {
                await engine.DisposeAsync();
            }
        }
    }

    private static async Task<(double SeenAtMs, BreakerView Breaker)> WatchAsync(
        HttpClient http, BenchProcess gateway, string engineId, long baseVersion, CancellationToken ct)
    {
        double? seenAt = null;
        while (true)
        {
            var view = await FleetView.ReadAsync(http, gateway, ct);
            var now = FleetView.NowMs();
            if (view.Breakers[engineId] is { State: "open" } breaker && breaker.Version > baseVersion)
            {
                // A read between the swap and the change handler has no time yet: it follows on the next read.
                seenAt ??= now;
                if (breaker.ChangedAtMs is not null)
                {
                    return (seenAt.Value, breaker);
                }

                continue;
            }

            await Task.Delay(5, ct);
        }
    }

    private static async Task<string?> EngineOfAsync(HttpClient http, BenchProcess gateway, CancellationToken ct)
    {
        using var request = new HttpRequestMessage(HttpMethod.Post, new Uri(gateway.BaseUri, "v1/completions"))
        {
            Content = JsonContent.Create(new { model = Model, prompt = Prompt, max_tokens = 1 }),
        };
        request.Headers.Authorization = new System.Net.Http.Headers.AuthenticationHeaderValue("Bearer", GatewayProcess.ApiKey);
        using var response = await http.SendAsync(request, ct);
        return response.Headers.TryGetValues("x-platform-engine", out var values) ? values.FirstOrDefault() : null;
    }

    private static async Task SetFaultsAsync(HttpClient http, BenchProcess engine, object faults, CancellationToken ct)
    {
        using var response = await http.PostAsJsonAsync(new Uri(engine.BaseUri, "admin/faults"), faults, ct);
        response.EnsureSuccessStatusCode();
    }

    private static double RedisErrors(string metrics) => metrics.Split('\n')
        .Where(l => l.StartsWith("platform_fleet_redis_errors_total{", StringComparison.Ordinal))
        .Sum(l => double.Parse(l[(l.LastIndexOf(' ') + 1)..], CultureInfo.InvariantCulture));

    private static double P99(List<double> values) => values.Count == 0 ? double.NaN : StreamClient.Percentile([.. values], 0.99);

    private static string P(List<double> values, double p) =>
        values.Count == 0 ? "-" : $"{StreamClient.Percentile([.. values], p).ToString("F1", CultureInfo.InvariantCulture)} ms";
}
