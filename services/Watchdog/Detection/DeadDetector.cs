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

    public TimeSpan Window => _options.GracePeriod;

    public Detection? Evaluate(EngineHistory history, DateTimeOffset now)
    {
        var observations = history.Observations;
        if (observations.Count == 0 || observations[^1].ConsecutiveScrapeErrors < _options.FailedChecks)
        {
            return null;
        }

        // Failing since the first observation of the current run of failed checks; a run that started before the
        // history does not count as longer than what the history shows.
        var since = observations[^1].At;
        for (var i = observations.Count - 1; i >= 0 && observations[i].ConsecutiveScrapeErrors > 0; i--)
        {
            since = observations[i].At;
        }

        var failingFor = now - since;
        if (failingFor < _options.GracePeriod)
        {
            return null;
        }

        var latest = observations[^1];
        var last = string.IsNullOrEmpty(latest.LastScrapeError) ? "unknown" : latest.LastScrapeError;
        return new Detection(Name, string.Create(CultureInfo.InvariantCulture,
            $"{latest.ConsecutiveScrapeErrors} failed checks in a row (threshold {_options.FailedChecks}) for {failingFor.TotalSeconds:0.0} s, not brought back by the orchestrator; last error: {last}"));
    }
}
