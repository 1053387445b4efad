using System.Diagnostics.Metrics;
using Platform.Fleet.State;
using Platform.HealthScorer.Scoring;
using Platform.HealthScorer.Scraping;

namespace Platform.HealthScorer.Telemetry;

/// <summary>
/// Instruments of the HealthScorer (Meter <c>Platform.HealthScorer</c>); the Prometheus names are listed in README.md
/// and pass <c>promtool check metrics</c>. Per-engine gauges are read from the latest statuses when collected.
/// </summary>
internal sealed class HealthScorerMetrics : IDisposable
{
    public const string MeterName = "Platform.HealthScorer";

    private readonly Meter _meter;
    private readonly Histogram<double> _scrapeDuration;
    private readonly Counter<long> _scrapeErrors;
    private readonly Counter<long> _invalidLines;
    private readonly Counter<long> _pressureTransitions;
    private readonly Counter<long> _snapshotsDropped;
    private Func<IReadOnlyList<EngineStatus>> _statuses = static () => [];
    private Func<IReadOnlyList<PoolStatus>> _pools = static () => [];
    private Func<int> _subscribers = static () => 0;

    public HealthScorerMetrics(IMeterFactory? meterFactory = null)
    {
        _meter = meterFactory?.Create(MeterName) ?? new Meter(MeterName);
        _meter.CreateObservableGauge("platform.healthscorer.engine.score", () => PerEngine(s => s.Score), "{score}", "Health score per engine, 0 (unusable) to 100 (idle and fast).");
        _meter.CreateObservableGauge("platform.healthscorer.engine.pressure", () => PerEngine(s => s.Pressure == PressureState.UnderPressure ? 1 : 0), "{state}", "1 while the engine is under KV-cache pressure (hysteresis), else 0.");
        _meter.CreateObservableGauge("platform.healthscorer.engine.kv_cache.usage", () => PerEngine(s => s.KvCacheUsage, skipNaN: true), "1", "Fraction of KV-cache blocks in use (the fullest data-parallel rank).");
        _meter.CreateObservableGauge("platform.healthscorer.engine.reachable", () => PerEngine(s => s.Reachable ? 1 : 0), "{state}", "1 while the engine's scrapes succeed and are fresh, else 0.");
        _meter.CreateObservableGauge("platform.healthscorer.engine.stalled", () => PerEngine(s => s.Stalled ? 1 : 0), "{state}", "1 while /health says 200 but running requests generate no token, else 0.");
        _meter.CreateObservableGauge("platform.healthscorer.engine.missing_series", () => PerEngine(s => s.MissingSeries.Count), "{series}", "Expected vLLM series missing from the engine's last scrape.");
        _meter.CreateObservableGauge("platform.healthscorer.pool.spec_decode.acceptance_rate", () => PerPool(p => p.SpecAcceptanceRate), "1", "Speculative decoding: accepted / proposed draft tokens over the window, summed over the pool's reachable engines (absent while nothing was drafted).");
        _meter.CreateObservableGauge("platform.healthscorer.pool.spec_decode.mean_acceptance_length", () => PerPool(p => p.SpecMeanAcceptanceLength), "{token}", "Speculative decoding: 1 + accepted tokens per draft over the window, summed over the pool's reachable engines (absent while nothing was drafted).");
        _meter.CreateObservableGauge("platform.healthscorer.subscribers", () => _subscribers(), "{subscriber}", "Open WatchFleet streams.");
        _scrapeDuration = _meter.CreateHistogram<double>(
            "platform.healthscorer.scrape.duration",
            "s",
            "Time of one engine's scrape (/metrics and /health), failures included.",
            advice: new InstrumentAdvice<double> { HistogramBucketBoundaries = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5] });
        _scrapeErrors = _meter.CreateCounter<long>("platform.healthscorer.scrape.errors", "{error}", "Failed scrapes by engine and reason (timeout, connect, http_status, body_too_large, truncated, health).");
        _invalidLines = _meter.CreateCounter<long>("platform.healthscorer.scrape.invalid_lines", "{line}", "Exposition lines that were not valid (skipped; the rest of the scrape is used), by engine.");
        _pressureTransitions = _meter.CreateCounter<long>("platform.healthscorer.pressure.transitions", "{transition}", "Pressure state changes by engine and new state.");
        _snapshotsDropped = _meter.CreateCounter<long>("platform.healthscorer.snapshots.dropped", "{snapshot}", "Snapshots replaced by a newer one before a slow subscriber took them.");
    }

    public void ObserveStatuses(Func<IReadOnlyList<EngineStatus>> statuses) => _statuses = statuses;

    public void ObservePools(Func<IReadOnlyList<PoolStatus>> pools) => _pools = pools;

    public void ObserveSubscribers(Func<int> subscribers) => _subscribers = subscribers;

    public void Scraped(string engineId, in ScrapeOutcome outcome)
    {
        var engine = new KeyValuePair<string, object?>("engine", engineId);
        _scrapeDuration.Record(outcome.Duration.TotalSeconds, engine);
        if (!outcome.Succeeded)
        {
            _scrapeErrors.Add(1, engine, new("reason", ScrapeOutcome.ReasonTag(outcome.Failure)));
        }

        if (outcome.Metrics is { InvalidLines: > 0 } m)
        {
            _invalidLines.Add(m.InvalidLines, engine);
        }
    }

    public void PressureChanged(string engineId, PressureState to) =>
        _pressureTransitions.Add(1, new("engine", engineId), new("to", to == PressureState.UnderPressure ? "under_pressure" : "normal"));

    public void SnapshotDropped() => _snapshotsDropped.Add(1);

    public void Dispose() => _meter.Dispose();

    private IEnumerable<Measurement<double>> PerPool(Func<PoolStatus, double> value)
    {
        var pools = _pools();
        var measurements = new List<Measurement<double>>(pools.Count);
        foreach (var p in pools)
        {
            var v = value(p);
            if (!double.IsNaN(v))
            {
                measurements.Add(new Measurement<double>(v, new KeyValuePair<string, object?>("pool", p.Pool)));
            }
        }

        return measurements;
    }

    private IEnumerable<Measurement<double>> PerEngine(Func<EngineStatus, double> value, bool skipNaN = false)
    {
        var statuses = _statuses();
        var measurements = new List<Measurement<double>>(statuses.Count);
        foreach (var s in statuses)
        {
            var v = value(s);
            if (skipNaN && double.IsNaN(v))
            {
                continue;
            }

            measurements.Add(new Measurement<double>(v, new KeyValuePair<string, object?>("engine", s.Engine.Id), new("pool", s.Engine.Pool)));
        }

        return measurements;
    }
}
