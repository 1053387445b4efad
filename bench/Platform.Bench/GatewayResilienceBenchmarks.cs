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
        using var cts = new CancellationTokenSource(TimeSpan.FromMinutes(10));
        var ct = cts.Token;

        await using var redis = await BenchProcess.StartRedisAsync(ct);
        var engines = await StartEnginesAsync(3, ct);
        try
        {
            await using var gateway = await GatewayProcess.StartAsync(
                "gateway", redis, [new BenchPool("enginegeneral", Model, "general", engines)], new Dictionary<string, string>(), ct);
            using var http = NewClient();

            // Every worker runs streams back to back; engine 0 is told to crash once one of its streams has sent
            // 40 tokens, while requests of every phase (queued, streaming) are on it.
            var outcomes = new Outcomes();
            var stop = false;
            var load = Task.WhenAll(Enumerable.Range(0, concurrency).Select(async _ =>
            {
                while (!Volatile.Read(ref stop))
                {
                    outcomes.Add(await StreamClient.ChatAsync(http, gateway.BaseUri, GatewayProcess.ApiKey, Model, Prompt, maxTokens, ct), maxTokens);
                }
            }));

            await Task.Delay(TimeSpan.FromSeconds(3), ct);
            var before = outcomes.Snapshot();
            using (var crash = await http.PostAsJsonAsync(new Uri(engines[0].BaseUri, "admin/faults"), new { crashAfterTokens = 40 }, ct))
            {
                crash.EnsureSuccessStatusCode();
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
            var report = new StringBuilder()
                .AppendLine(CultureInfo.InvariantCulture, $"## Engine crash mid-stream under load ({concurrency} concurrent streams of {maxTokens} tokens, 3 engines)")
                .AppendLine()
                .AppendLine(CultureInfo.InvariantCulture, $"Engine 0 exited: {engines[0].HasExited} (exit code {engines[0].ExitCodeOrNull?.ToString(CultureInfo.InvariantCulture) ?? "-"}).")
                .AppendLine()
                .AppendLine("| outcome (client side) | before the crash | whole run |")
                .AppendLine("| --- | --- | --- |")
                .AppendLine(CultureInfo.InvariantCulture, $"| completed streams (all tokens, finish_reason, usage, [DONE]) | {before.Completed} | {outcomes.Completed} |")
                .AppendLine(CultureInfo.InvariantCulture, $"| refused before content (HTTP error) | {before.Refused} | {outcomes.Refused} |")
                .AppendLine(CultureInfo.InvariantCulture, $"| ended with an explicit error event | {before.ErrorEvents} | {outcomes.ErrorEvents} |")
                .AppendLine(CultureInfo.InvariantCulture, $"| silently truncated | {before.Truncated} | {outcomes.Truncated} |")
                .AppendLine()
                .AppendLine("Gateway counters:")
                .AppendLine()
                .AppendLine("```")
                .Append(Grep(metrics, "retr", "continu", "breaker", "fallback"))
                .AppendLine("```");
            Console.WriteLine(report);
            await WriteOutAsync(args, report);
            return outcomes.Truncated == 0 && outcomes.Refused == 0 ? 0 : 1;
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

        var redisPort = BenchProcess.FreePort();
        var redis = await BenchProcess.StartRedisAsync(ct, redisPort);
        var engines = await StartEnginesAsync(2, ct);
        try
        {
            var pool = new BenchPool("enginegeneral", Model, "general", engines);
            await using var gatewayA = await GatewayProcess.StartAsync("gateway-a", redis, [pool], new Dictionary<string, string>(), ct);
            await using var gatewayB = await GatewayProcess.StartAsync("gateway-b", redis, [pool], new Dictionary<string, string>(), ct);
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
            await Task.Delay(outage, ct);
            redis = await BenchProcess.StartRedisAsync(ct, redisPort);
            var back = Stopwatch.StartNew();
            Volatile.Write(ref phase, "after");

            // Converged: both gateways report Redis available again (their fleet-state gauge).
            TimeSpan? converged = null;
            while (back.Elapsed < TimeSpan.FromSeconds(30))
            {
                var a = await http.GetStringAsync(new Uri(gatewayA.BaseUri, "metrics"), ct);
                var b = await http.GetStringAsync(new Uri(gatewayB.BaseUri, "metrics"), ct);
                if (RedisAvailable(a) && RedisAvailable(b))
                {
                    converged = back.Elapsed;
                    break;
                }

                await Task.Delay(50, ct);
            }

            await Task.Delay(TimeSpan.FromSeconds(5), ct);
            Volatile.Write(ref stop, true);
            await load;

            var report = new StringBuilder()
                .AppendLine(CultureInfo.InvariantCulture, $"## Redis stopped for {outage.TotalSeconds:F0} s under load (2 gateways, 2 engines, {concurrency} concurrent streams)")
                .AppendLine()
                .AppendLine("| phase | completed | refused | error events | truncated |")
                .AppendLine("| --- | --- | --- | --- | --- |");
            foreach (var (name, o) in phases)
            {
                report.AppendLine(CultureInfo.InvariantCulture, $"| {name} | {o.Completed} | {o.Refused} | {o.ErrorEvents} | {o.Truncated} |");
            }

            report.AppendLine()
                .AppendLine(CultureInfo.InvariantCulture, $"Both gateways back on Redis {(converged is { } c ? $"{c.TotalMilliseconds:F0} ms" : "NOT within 30 s")} after it returned.");
            Console.WriteLine(report);
            await WriteOutAsync(args, report);
            var failed = phases.Values.Sum(o => o.Refused + o.ErrorEvents + o.Truncated);
            return failed == 0 && converged is not null ? 0 : 1;
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

    private static bool RedisAvailable(string metrics)
    {
        foreach (var line in metrics.Split('\n'))
        {
            if (line.StartsWith("platform_fleet_redis_available", StringComparison.Ordinal) && !line.StartsWith('#'))
            {
                return line.TrimEnd().EndsWith(" 1", StringComparison.Ordinal);
            }
        }

        return false;
    }

    private static async Task<List<BenchProcess>> StartEnginesAsync(int count, CancellationToken ct)
    {
        var engines = new List<BenchProcess>();
        for (var i = 0; i < count; i++)
        {
            engines.Add(await BenchProcess.StartEngineAsync($"engine{i}", ["--model", Model, "--sim-seed", (200 + i).ToString(CultureInfo.InvariantCulture)], ct));
        }

        return engines;
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
