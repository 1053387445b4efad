using System.Diagnostics;
using System.Globalization;
using System.Reflection;
using Platform.HealthScorer.Prometheus;
using Platform.HealthScorer.Scraping;

namespace Platform.Bench;

/// <summary>
/// Parse throughput of the HealthScorer's scrape path on vLLM /metrics bodies: the bare line reader (every line
/// tokenised and its value parsed) and the full read the scorer does per scrape (reader + vLLM series, ranks combined,
/// histograms), in MB/s, time per scrape and bytes allocated per scrape (GC.GetAllocatedBytesForCurrentThread).
/// </summary>
internal static class HealthScorerParseBenchmark
{
    private static readonly string[] Embedded = ["vllm-0.11.txt", "vllm-0.11-dp2.txt", "enginesim-0.11.txt"];

    public static Task<int> RunAsync(BenchArgs args)
    {
        var seconds = args.Double("seconds", 3);
        var bodies = new List<(string Name, byte[] Bytes)>();
        if (args.String("file") is { } file)
        {
            bodies.Add((Path.GetFileName(file), File.ReadAllBytes(file)));
        }
        else
        {
            foreach (var name in Embedded)
            {
                bodies.Add((name, ReadEmbedded(name)));
            }
        }

        Console.WriteLine($"healthscorer-parse: {seconds.ToString(CultureInfo.InvariantCulture)} s per case, after warm-up; {Environment.ProcessorCount} cores, .NET {Environment.Version}");
        Console.WriteLine();
        Console.WriteLine("| scrape | bytes | lines | path | MB/s | µs per scrape | bytes allocated per scrape |");
        Console.WriteLine("| --- | ---: | ---: | --- | ---: | ---: | ---: |");
        foreach (var (name, bytes) in bodies)
        {
            var lines = bytes.Count(b => b == (byte)'\n');
            Report(name, bytes, lines, "line reader", Measure(bytes, seconds, static b => ReadLines(b)));
            var scrape = new VllmScrape();
            Report(name, bytes, lines, "vLLM series (per scrape)", Measure(bytes, seconds, b =>
            {
                scrape.Read(b);
                return scrape.Samples;
            }));
        }

        return Task.FromResult(0);
    }

    private static void Report(string name, byte[] bytes, int lines, string path, (double Seconds, long Iterations, double AllocatedPerIteration) r)
    {
        var mbPerSecond = bytes.Length * (double)r.Iterations / r.Seconds / 1e6;
        var microseconds = r.Seconds / r.Iterations * 1e6;
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"| {name} | {bytes.Length:N0} | {lines:N0} | {path} | {mbPerSecond:N0} | {microseconds:N1} | {r.AllocatedPerIteration:N0} |"));
    }

    private static (double Seconds, long Iterations, double AllocatedPerIteration) Measure(byte[] body, double seconds, Func<byte[], int> parse)
    {
        var sink = 0;
        for (var i = 0; i < 200; i++)
        {
            sink += parse(body);
        }

        var allocatedBefore = GC.GetAllocatedBytesForCurrentThread();
        var started = Stopwatch.GetTimestamp();
        long iterations = 0;
        var budget = TimeSpan.FromSeconds(seconds);
        while (Stopwatch.GetElapsedTime(started) < budget)
        {
            for (var i = 0; i < 50; i++)
            {
                sink += parse(body);
            }

            iterations += 50;
        }

        var elapsed = Stopwatch.GetElapsedTime(started).TotalSeconds;
        var allocated = GC.GetAllocatedBytesForCurrentThread() - allocatedBefore;
        GC.KeepAlive(sink);
        return (elapsed, iterations, allocated / (double)iterations);
    }

    private static int ReadLines(byte[] body)
    {
        var reader = new PrometheusTextReader(body);
        var samples = 0;
        while (reader.Read(out var line))
        {
            if (line.Kind == LineKind.Sample)
            {
                samples++;
            }
        }

        return samples;
    }

    private static byte[] ReadEmbedded(string name)
    {
        using var stream = Assembly.GetExecutingAssembly().GetManifestResourceStream("Fixtures." + name)
            ?? throw new InvalidOperationException($"embedded fixture {name} is missing");
        using var copy = new MemoryStream();
        stream.CopyTo(copy);
        return copy.ToArray();
    }
}
