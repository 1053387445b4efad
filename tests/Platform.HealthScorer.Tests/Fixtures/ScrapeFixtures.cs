namespace Platform.HealthScorer.Tests.Fixtures;

/// <summary>The scrape bodies in Prometheus/Fixtures (copied next to the test assembly).</summary>
internal static class ScrapeFixtures
{
    public const string Vllm011DataParallel = "vllm-0.11-dp2.txt";
    public const string Vllm011 = "vllm-0.11.txt";
    public const string Vllm08GpuNames = "vllm-0.8-v1-gpu-names.txt";
    public const string Vllm06V0 = "vllm-0.6-v0.txt";
    public const string EngineSim = "enginesim-0.11.txt";

    public static byte[] Bytes(string name) => File.ReadAllBytes(Path.Combine(AppContext.BaseDirectory, "Prometheus", "Fixtures", name));

    public static string Text(string name) => File.ReadAllText(Path.Combine(AppContext.BaseDirectory, "Prometheus", "Fixtures", name));

    /// <summary>Sum of the values of the sample lines whose name is exactly <paramref name="name"/> (a naive reader, independent of the parser).</summary>
    public static double Sum(string text, string name, string? labelContains = null)
    {
        var sum = 0.0;
        foreach (var line in text.Split('\n'))
        {
            if (line.StartsWith('#') || line.Length == 0)
            {
                continue;
            }

            var end = line.IndexOfAny(['{', ' ']);
            if (line[..end] != name || (labelContains is not null && !line.Contains(labelContains, StringComparison.Ordinal)))
            {
                continue;
            }

            var value = line[(line.LastIndexOf(' ') + 1)..];
            sum += value == "+Inf" ? double.PositiveInfinity : double.Parse(value, System.Globalization.CultureInfo.InvariantCulture);
        }

        return sum;
    }
}
