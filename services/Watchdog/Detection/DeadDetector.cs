using System.Globalization;
using Microsoft.Extensions.Options;

namespace Platform.Watchdog.Detection;

/// <summary>
/// Dead: the HealthScorer failed to scrape the engine, or its /health did not answer 200, for
/// <see cref="DeadDetectorOptions.FailedChecks"/> checks in a row.
/// </summary>
internal sealed class DeadDetector(IOptions<DeadDetectorOptions> options) : IDegradationDetector
{
    public const string DetectorName = "dead";

    private readonly DeadDetectorOptions _options = options.Value;

    public string Name => DetectorName;

    public bool Enabled => _options.Enabled;

    public TimeSpan Window => TimeSpan.Zero;

    public Detection? Evaluate(EngineHistory history, DateTimeOffset now)
    {
        if (history.Latest is not { } latest || latest.ConsecutiveScrapeErrors < _options.FailedChecks)
        {
            return null;
        }

        var last = string.IsNullOrEmpty(latest.LastScrapeError) ? "unknown" : latest.LastScrapeError;
        return new Detection(Name, string.Create(CultureInfo.InvariantCulture,
            $"{latest.ConsecutiveScrapeErrors} failed checks in a row (threshold {_options.FailedChecks}); last error: {last}"));
    }
}
