using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Text;
using System.Text.Json;

namespace Platform.Bench;

/// <summary>
/// One EngineSim holding N concurrent SSE streams on this machine: every stream must end with its
/// finish_reason, a usage chunk and [DONE] (anything else is an error). Reports the engine process's CPU
/// cost per generated token and its resident memory per open stream.
/// </summary>
internal static class EngineSimStreamsBenchmark
{
    private const string Model = "llama-3.1-8b-instruct";

    public static async Task<int> RunAsync(BenchArgs args)
    {
        var streams = args.Int("streams", 2000);
        var maxTokens = args.Int("max-tokens", 256);
        var maxNumSeqs = args.Int("max-num-seqs", streams);
        var speedup = args.Double("sim-speedup", 1.0);
        var dll = args.String("engine-dll");
        var blocks = Math.Max(4096, streams * ((maxTokens + 64) / 16 + 2));
        using var cts = new CancellationTokenSource(TimeSpan.FromMinutes(10));

        await using var engine = await BenchProcess.StartEngineAsync(
            "enginesim",
            [
                "--model", Model,
                "--max-num-seqs", maxNumSeqs.ToString(CultureInfo.InvariantCulture),
                "--num-gpu-blocks-override", blocks.ToString(CultureInfo.InvariantCulture),
                "--max-num-batched-tokens", "65536",
                "--sim-speedup", speedup.ToString(CultureInfo.InvariantCulture),
            ],
            cts.Token,
            dll);

        using var handler = new SocketsHttpHandler
        {
            MaxConnectionsPerServer = int.MaxValue,
            PooledConnectionIdleTimeout = TimeSpan.FromMinutes(5),
            ConnectTimeout = TimeSpan.FromSeconds(30),
        };
        using var http = new HttpClient(handler) { BaseAddress = engine.BaseUri, Timeout = Timeout.InfiniteTimeSpan };

        // Warm up (JIT, tokenizer, connection) so the idle figures are the steady state.
        await RunStreamAsync(http, maxTokens: 8, new Counters(), cts.Token);
        GC.Collect();
        var idleRss = engine.ResidentBytes();
        var cpuBefore = engine.CpuTime();

        var counters = new Counters();
        var peakRss = idleRss;
        var sampler = Task.Run(async () =>
        {
            while (!cts.IsCancellationRequested && Volatile.Read(ref counters.Finished) < streams)
            {
                peakRss = Math.Max(peakRss, engine.ResidentBytes());
                await Task.Delay(100, CancellationToken.None);
            }
        });

        var clock = Stopwatch.StartNew();
        var tasks = new Task[streams];
        for (var i = 0; i < streams; i++)
        {
            tasks[i] = RunStreamAsync(http, maxTokens, counters, cts.Token);
        }

        await Task.WhenAll(tasks);
        clock.Stop();
        await sampler;
        var cpu = engine.CpuTime() - cpuBefore;

        var tokens = Interlocked.Read(ref counters.Tokens);
        var report = new StringBuilder()
            .AppendLine(CultureInfo.InvariantCulture, $"## EngineSim: {streams:N0} concurrent streams ({Environment.ProcessorCount} cores)")
            .AppendLine()
            .AppendLine("| figure | value |")
            .AppendLine("| --- | --- |")
            .AppendLine(CultureInfo.InvariantCulture, $"| streams started / completed / errors | {streams:N0} / {counters.Completed:N0} / {counters.Errors:N0} |")
            .AppendLine(CultureInfo.InvariantCulture, $"| peak concurrently open streams | {counters.PeakOpen:N0} |")
            .AppendLine(CultureInfo.InvariantCulture, $"| generated tokens (from usage) | {tokens:N0} |")
            .AppendLine(CultureInfo.InvariantCulture, $"| wall time | {clock.Elapsed.TotalSeconds:F1} s |")
            .AppendLine(CultureInfo.InvariantCulture, $"| throughput | {tokens / clock.Elapsed.TotalSeconds:N0} tokens/s |")
            .AppendLine(CultureInfo.InvariantCulture, $"| engine CPU time | {cpu.TotalSeconds:F2} s ({cpu.TotalSeconds / clock.Elapsed.TotalSeconds * 100 / Environment.ProcessorCount:F0}% of the machine) |")
            .AppendLine(CultureInfo.InvariantCulture, $"| engine CPU per generated token | {cpu.TotalMicroseconds / Math.Max(1, tokens):F1} µs |")
            .AppendLine(CultureInfo.InvariantCulture, $"| engine RSS idle / peak | {idleRss / 1048576.0:F0} MiB / {peakRss / 1048576.0:F0} MiB |")
            .AppendLine(CultureInfo.InvariantCulture, $"| engine memory per open stream | {(peakRss - idleRss) / 1024.0 / Math.Max(1, counters.PeakOpen):F1} KiB |")
            .AppendLine(CultureInfo.InvariantCulture, $"| time to first token p50 / p99 | {counters.TtftPercentile(0.50):F0} ms / {counters.TtftPercentile(0.99):F0} ms |");
        foreach (var (error, count) in counters.ErrorKinds)
        {
            report.AppendLine(CultureInfo.InvariantCulture, $"| error: {error} | {count} |");
        }

        Console.WriteLine(report);
        if (args.String("out") is { } path)
        {
            await File.WriteAllTextAsync(path, report.ToString(), CancellationToken.None);
        }

        return counters.Errors == 0 ? 0 : 1;
    }

    private static async Task RunStreamAsync(HttpClient http, int maxTokens, Counters counters, CancellationToken ct)
    {
        var body = $$$"""
            {"model":"{{{Model}}}","prompt":"Write a long story about a lighthouse keeper and the sea.","max_tokens":{{{maxTokens}}},"ignore_eos":true,"stream":true,"stream_options":{"include_usage":true}}
            """;
        var started = Stopwatch.GetTimestamp();
        var open = false;
        try
        {
            using var request = new HttpRequestMessage(HttpMethod.Post, "/v1/completions")
            {
                Content = new StringContent(body, Encoding.UTF8, "application/json"),
            };
            using var response = await http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, ct);
            if (response.StatusCode != HttpStatusCode.OK)
            {
                counters.Error($"HTTP {(int)response.StatusCode}");
                return;
            }

            open = true;
            counters.Opened();
            await using var stream = await response.Content.ReadAsStreamAsync(ct);
            using var reader = new StreamReader(stream, Encoding.UTF8);
            var finished = false;
            var done = false;
            var first = true;
            long usageTokens = -1;
            while (await reader.ReadLineAsync(ct) is { } line)
            {
                if (!line.StartsWith("data: ", StringComparison.Ordinal))
                {
                    continue;
                }

                var data = line.AsMemory(6);
                if (data.Span.SequenceEqual("[DONE]"))
                {
                    done = true;
                    break;
                }

                using var json = JsonDocument.Parse(data);
                var root = json.RootElement;
                if (root.TryGetProperty("error", out _))
                {
                    counters.Error("error event");
                    return;
                }

                if (root.TryGetProperty("choices", out var choices) && choices.GetArrayLength() > 0)
                {
                    if (first)
                    {
                        counters.FirstToken(Stopwatch.GetElapsedTime(started));
                        first = false;
                    }

                    if (choices[0].TryGetProperty("finish_reason", out var reason) && reason.ValueKind == JsonValueKind.String)
                    {
                        finished = true;
                    }
                }

                if (root.TryGetProperty("usage", out var usage) && usage.ValueKind == JsonValueKind.Object)
                {
                    usageTokens = usage.GetProperty("completion_tokens").GetInt64();
                }
            }

            if (!finished || !done || usageTokens != maxTokens)
            {
                counters.Error($"incomplete stream (finish={finished}, done={done}, tokens={usageTokens})");
                return;
            }

            counters.Complete(usageTokens);
        }
        catch (Exception e) when (e is HttpRequestException or IOException or JsonException)
        {
            counters.Error(e.GetType().Name);
        }
        finally
        {
            if (open)
            {
                counters.Closed();
            }

            Interlocked.Increment(ref counters.Finished);
        }
    }

    private sealed class Counters
    {
        public long Tokens;
        public int Finished;
        private readonly Lock _lock = new();
        private readonly List<double> _ttftMs = [];
        private readonly Dictionary<string, int> _errors = [];
        private int _open;

        public int Completed { get; private set; }

        public int Errors { get; private set; }

        public int PeakOpen { get; private set; }

        public IEnumerable<KeyValuePair<string, int>> ErrorKinds => _errors;

        public void Opened()
        {
            lock (_lock)
            {
                _open++;
                PeakOpen = Math.Max(PeakOpen, _open);
            }
        }

        public void Closed()
        {
            lock (_lock)
            {
                _open--;
            }
        }

        public void FirstToken(TimeSpan elapsed)
        {
            lock (_lock)
            {
                _ttftMs.Add(elapsed.TotalMilliseconds);
            }
        }

        public void Complete(long tokens)
        {
            Interlocked.Add(ref Tokens, tokens);
            lock (_lock)
            {
                Completed++;
            }
        }

        public void Error(string kind)
        {
            lock (_lock)
            {
                Errors++;
                _errors[kind] = _errors.GetValueOrDefault(kind) + 1;
            }
        }

        public double TtftPercentile(double p)
        {
            lock (_lock)
            {
                if (_ttftMs.Count == 0)
                {
                    return double.NaN;
                }

                _ttftMs.Sort();
                return _ttftMs[Math.Min(_ttftMs.Count - 1, (int)(p * _ttftMs.Count))];
            }
        }
    }
}
