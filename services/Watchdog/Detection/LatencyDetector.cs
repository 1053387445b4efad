using System.Globalization;
using Microsoft.Extensions.Options;

namespace Platform.Watchdog.Detection;

/// <summary>
/// Sustained latency degradation: the HealthScorer's TTFT p95 over <see cref="LatencyDetectorOptions.TtftP95Budget"/>
/// at every observation for <see cref="LatencyDetectorOptions.SustainFor"/>. An observation without a TTFT (nothing
/// finished prefill) or an unreachable one is not evidence of slowness: it breaks the run.
/// </summary>
internal sealed class LatencyDetector(IOptions<LatencyDetectorOptions> options) : IDegradationDetector
{
    public const string DetectorName = "latency";

    private readonly LatencyDetectorOptions _options = options.Value;

    public string Name => DetectorName;

    public bool Enabled => _options.Enabled;

    public TimeSpan Window => _options.SustainFor;

    public Detection? Evaluate(EngineHistory history, DateTimeOffset now)
    {
        if (history.Window(now, _options.SustainFor) is not { Count: >= 2 } window)
        {
            return null;
        }

        var budget = _options.TtftP95Budget.TotalSeconds;
        var best = double.MaxValue;
        foreach (var o in window)
        {
            if (!o.Reachable || double.IsNaN(o.TtftP95Seconds) || o.TtftP95Seconds <= budget)
            {
                return null;
            }

            best = Math.Min(best, o.TtftP95Seconds);
        }

        var last = window[^1];
        return new Detection(Name, string.Create(CultureInfo.InvariantCulture,
            $"TTFT p95 over the {budget:0.###} s budget for {(last.At - window[0].At).TotalSeconds:0} s: at least {best:0.###} s, now {last.TtftP95Seconds:0.###} s"));
    }
}
