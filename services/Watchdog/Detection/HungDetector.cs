using System.Globalization;
using Microsoft.Extensions.Options;

namespace Platform.Watchdog.Detection;

/// <summary>
/// Hung: the HealthScorer calls the engine stalled (/health says 200, requests are running, no token is generated)
/// for at least <see cref="HungDetectorOptions.StalledFor"/>. The flag is indirect evidence, so the detection asks for
/// a deep probe: a 1-token generation that must answer within <see cref="HungDetectorOptions.ProbeTimeout"/>.
/// </summary>
internal sealed class HungDetector(IOptions<HungDetectorOptions> options) : IDegradationDetector
{
    public const string DetectorName = "hung";

    private readonly HungDetectorOptions _options = options.Value;

    public string Name => DetectorName;

    public bool Enabled => _options.Enabled;

    public TimeSpan Window => _options.StalledFor;

    public Detection? Evaluate(EngineHistory history, DateTimeOffset now)
    {
        var observations = history.Observations;
        if (observations.Count == 0 || !observations[^1].Stalled)
        {
            return null;
        }

        // Since when has it been stalled without a break?
        var since = observations[^1].At;
        for (var i = observations.Count - 1; i >= 0 && observations[i].Stalled; i--)
        {
            since = observations[i].At;
        }

        var stalledFor = now - since;
        if (stalledFor < _options.StalledFor)
        {
            return null;
        }

        var latest = observations[^1];
        return new Detection(
            Name,
            string.Create(CultureInfo.InvariantCulture,
                $"the HealthScorer calls it stalled (/health answers, {latest.Running:0} running, no token generated), seen so for {stalledFor.TotalSeconds:0.0} s"),
            NeedsDeepProbe: true);
    }
}
