using System.Globalization;

namespace Platform.FaultSuite.Drills;

/// <summary>What the engines themselves report: <c>vllm:num_requests_running</c> and <c>_waiting</c>, read from /metrics.</summary>
internal static class EngineLoad
{
    /// <summary>Running + waiting summed over the given engines (every <c>engine</c> label of each).</summary>
    public static async Task<(double Running, double Waiting)> ReadAsync(HttpClient http, IEnumerable<Uri> engines, CancellationToken ct)
    {
        var reads = engines.Select(async engine =>
        {
            var text = await http.GetStringAsync(new Uri(engine, "metrics"), ct);
            return (Sum(text, "vllm:num_requests_running"), Sum(text, "vllm:num_requests_waiting"));
        });
        var all = await Task.WhenAll(reads);
        return (all.Sum(a => a.Item1), all.Sum(a => a.Item2));
    }

    /// <summary>Sums a gauge's samples (name exactly, then labels or a space).</summary>
    public static double Sum(string exposition, string name)
    {
        double sum = 0;
        foreach (var line in exposition.AsSpan().EnumerateLines())
        {
            if (!line.StartsWith(name) || line.Length <= name.Length || (line[name.Length] != '{' && line[name.Length] != ' '))
            {
                continue;
            }

            var value = line[(line.LastIndexOf(' ') + 1)..];
            if (double.TryParse(value, NumberStyles.Float, CultureInfo.InvariantCulture, out var v))
            {
                sum += v;
            }
        }

        return sum;
    }
}
