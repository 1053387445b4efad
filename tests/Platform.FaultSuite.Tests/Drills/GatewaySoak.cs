using System.Collections.Concurrent;
using System.Diagnostics;
using System.Globalization;

namespace Platform.FaultSuite.Drills;

/// <summary>What a soak measured: outcomes, client-side TTFT, tokens, and the gateway process's CPU and memory.</summary>
internal sealed record SoakResult(
    int Streams,
    TimeSpan Duration,
    int Requests,
    int Completed,
    int Refused,
    int ErrorEvents,
    int Lost,
    IReadOnlyDictionary<int, int> RefusedByStatus,
    int PeakOpenStreams,
    double TtftP50Ms,
    double TtftP90Ms,
    double TtftP99Ms,
    long Tokens,
    double TokensPerSecond,
    double GatewayCpuSeconds,
    double GatewayRssStartMiB,
    double GatewayRssPeakMiB)
{
    public int Errors => Refused + ErrorEvents + Lost;

    public double GatewayCpuCores => GatewayCpuSeconds / Duration.TotalSeconds;

    public string Summary() => string.Create(CultureInfo.InvariantCulture, $"""
        {Streams} concurrent streams for {Duration.TotalSeconds:0.0} s: {Requests} requests, {Completed} completed, errors {Errors} (refused {Refused}{(RefusedByStatus.Count > 0 ? " [" + string.Join(", ", RefusedByStatus.Select(s => $"{s.Key} x{s.Value}")) + "]" : "")}, error events {ErrorEvents}, lost {Lost})
        peak open streams {PeakOpenStreams}; TTFT p50 / p90 / p99 {TtftP50Ms:0.0} / {TtftP90Ms:0.0} / {TtftP99Ms:0.0} ms; {Tokens} tokens, {TokensPerSecond:0} tokens/s
        gateway CPU {GatewayCpuSeconds:0.0} s ({GatewayCpuCores:0.00} cores); gateway RSS {GatewayRssStartMiB:0} MiB at start, {GatewayRssPeakMiB:0} MiB peak
        """);
}

/// <summary>
/// N workers, each holding one stream through the gateway at every moment for the whole duration (a new request as
/// soon as the last ends), prompts alternating code and general. Every request's end is accounted for.
/// </summary>
internal static class GatewaySoak
{
    public static async Task<SoakResult> RunAsync(Uri gateway, string apiKey, int gatewayPid, int streams, TimeSpan duration, int maxTokens, CancellationToken ct)
    {
        using var http = GatewayChat.CreateClient(streams * 2);
        var results = new ConcurrentQueue<ChatResult>();
        var open = 0;
        var peakOpen = 0;
        var cpuStart = CpuSeconds(gatewayPid);
        var rssStart = RssMiB(gatewayPid);
        var rssPeak = rssStart;
        var clock = Stopwatch.StartNew();
        using var sampling = CancellationTokenSource.CreateLinkedTokenSource(ct);
        var sampler = Task.Run(async () =>
        {
            while (!sampling.IsCancellationRequested)
            {
                rssPeak = Math.Max(rssPeak, RssMiB(gatewayPid));
                await Task.Delay(250, sampling.Token).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
            }
        }, CancellationToken.None);

        var workers = Enumerable.Range(0, streams).Select(w => Task.Run(async () =>
        {
            for (var i = 0; clock.Elapsed < duration; i++)
            {
                var prompt = ((w + i) % 2 == 0 ? GatewayChat.GeneralPrompt : GatewayChat.CodePrompt) + $" (worker {w}, #{i})";
                var now = Interlocked.Increment(ref open);
                InterlockedMax(ref peakOpen, now);
                var result = await GatewayChat.StreamAsync(http, gateway, apiKey, prompt, maxTokens, ct);
                Interlocked.Decrement(ref open);
                results.Enqueue(result);
            }
        }, ct)).ToArray();
        await Task.WhenAll(workers);
        var elapsed = clock.Elapsed;
        var cpu = CpuSeconds(gatewayPid) - cpuStart;
        await sampling.CancelAsync();
        await sampler;

        var all = results.ToList();
        var completed = all.Where(r => r.Ok).ToList();
        var tokens = completed.Sum(r => (long)r.CompletionTokens);
        return new SoakResult(
            streams,
            elapsed,
            all.Count,
            completed.Count,
            all.Count(r => r.End == ChatEnd.Refused),
            all.Count(r => r.End == ChatEnd.ErrorEvent),
            all.Count(r => r.End is ChatEnd.Lost or ChatEnd.ClientCancelled),
            all.Where(r => r.End == ChatEnd.Refused).GroupBy(r => r.Status).ToDictionary(g => g.Key, g => g.Count()),
            peakOpen,
            GatewayChat.Percentile(completed.Select(r => r.TtftMs), 0.50),
            GatewayChat.Percentile(completed.Select(r => r.TtftMs), 0.90),
            GatewayChat.Percentile(completed.Select(r => r.TtftMs), 0.99),
            tokens,
            tokens / elapsed.TotalSeconds,
            cpu,
            rssStart,
            rssPeak);
    }

    /// <summary>utime + stime of a process from /proc/{pid}/stat (fields 14 and 15, in clock ticks of 1/100 s).</summary>
    public static double CpuSeconds(int pid)
    {
        var stat = File.ReadAllText($"/proc/{pid}/stat");
        var fields = stat[(stat.LastIndexOf(')') + 2)..].Split(' ');
        return (long.Parse(fields[11], CultureInfo.InvariantCulture) + long.Parse(fields[12], CultureInfo.InvariantCulture)) / 100.0;
    }

    /// <summary>Resident memory of a process (VmRSS in /proc/{pid}/status), MiB.</summary>
    public static double RssMiB(int pid)
    {
        foreach (var line in File.ReadLines($"/proc/{pid}/status"))
        {
            if (line.StartsWith("VmRSS:", StringComparison.Ordinal))
            {
                return long.Parse(line.AsSpan(6).Trim().TrimEnd("kB").Trim(), CultureInfo.InvariantCulture) / 1024.0;
            }
        }

        return double.NaN;
    }

    private static void InterlockedMax(ref int target, int value)
    {
        var current = Volatile.Read(ref target);
        while (value > current)
        {
            var seen = Interlocked.CompareExchange(ref target, value, current);
            if (seen == current)
            {
                return;
            }

            current = seen;
        }
    }
}
