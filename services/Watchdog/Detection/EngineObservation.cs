namespace Platform.Watchdog.Detection;

/// <summary>
/// One engine as one HealthScorer snapshot described it, stamped with the watchdog's own clock when it arrived
/// (windows are measured on one clock). Unknown figures are NaN, as the HealthScorer sends them. <c>ScrapedAt</c> is
/// when the HealthScorer last scraped the engine successfully, on its clock (null if never): a view older than an
/// engine's restart is of the previous process.
/// </summary>
internal sealed record EngineObservation(
    DateTimeOffset At,
    string EngineId,
    string Pool,
    bool Reachable,
    bool Stalled,
    uint ConsecutiveScrapeErrors,
    string LastScrapeError,
    double KvCacheUsage,
    double Running,
    double Waiting,
    double TtftP95Seconds,
    double GenerationTokensPerSecond,
    DateTimeOffset? ScrapedAt = null)
{
    /// <summary>Serving as far as the health view can tell: reachable and making progress.</summary>
    public bool Routable => Reachable && !Stalled;
}

/// <summary>
/// The recent observations of one engine, oldest first, covering the longest window any detector needs. Detectors
/// read it and keep no state of their own, so a detector is a pure function of the history and the time.
/// </summary>
internal sealed class EngineHistory(string engineId)
{
    private readonly List<EngineObservation> _observations = [];

    public string EngineId { get; } = engineId;

    public IReadOnlyList<EngineObservation> Observations => _observations;

    public EngineObservation? Latest => _observations.Count == 0 ? null : _observations[^1];

    public void Add(EngineObservation observation, TimeSpan keep)
    {
        _observations.Add(observation);
        // Keep one observation older than the window, so a window is known to be covered from its start.
        var cutoff = observation.At - keep;
        var drop = 0;
        while (drop + 1 < _observations.Count && _observations[drop + 1].At <= cutoff)
        {
            drop++;
        }

        if (drop > 0)
        {
            _observations.RemoveRange(0, drop);
        }
    }

    /// <summary>Forgets everything (after a restart: nothing from the old process may decide about the new one).</summary>
    public void Clear() => _observations.Clear();

    /// <summary>
    /// The observations within <paramref name="window"/> before <paramref name="now"/>, or null when the history does
    /// not cover the whole window yet (the watchdog must not judge a window it has not seen).
    /// </summary>
    public IReadOnlyList<EngineObservation>? Window(DateTimeOffset now, TimeSpan window)
    {
        if (_observations.Count == 0 || _observations[0].At > now - window)
        {
            return null;
        }

        var start = now - window;
        var first = _observations.FindLastIndex(o => o.At <= start);
        return _observations.GetRange(first, _observations.Count - first);
    }
}
