using Platform.Fleet.Catalog;
using Platform.Fleet.State;
using Platform.HealthScorer.Scraping;

namespace Platform.HealthScorer.Scoring;

/// <summary>
/// One engine's history and judgement. Each scrape's series go into a ring of points covering the sliding window
/// (plus the one point just before it, so deltas span the whole window); rates and quantiles are newest minus
/// oldest. A counter going backwards (the engine restarted) or a histogram changing its buckets starts the window
/// anew. Not thread-safe: one scrape of an engine at a time (the scrape loop awaits each round).
/// </summary>
internal sealed class EngineTracker
{
    private readonly HealthScorerOptions _options;
    private readonly IHealthScoringPolicy _scoring;
    private readonly Point[] _ring;
    private readonly double[] _scratchA = new double[HistogramCounts.MaxBuckets];
    private readonly double[] _scratchB = new double[HistogramCounts.MaxBuckets];
    private int _start;
    private int _count;
    private DateTimeOffset? _lastSuccess;
    private DateTimeOffset _progressAt;
    private double _lastGenerationTokens = double.NaN;
    private int _failures;

    public EngineTracker(EngineInfo engine, PoolInfo? pool, HealthScorerOptions options, IHealthScoringPolicy scoring)
    {
        Engine = engine;
        NumSpeculativeTokens = pool?.Speculative?.NumSpeculativeTokens ?? 0;
        _options = options;
        _scoring = scoring;
        var capacity = (int)Math.Clamp(Math.Ceiling(options.Window / options.ScrapeInterval) + 2, 3, 4096);
        _ring = new Point[capacity];
        for (var i = 0; i < capacity; i++)
        {
            _ring[i] = new Point();
        }

        Status = new EngineStatus { Engine = engine };
    }

    public EngineInfo Engine { get; }

    /// <summary>k of the pool's speculative decoding (0 without): speculative series are then expected.</summary>
    public int NumSpeculativeTokens { get; }

    /// <summary>The latest judgement (replaced whole after every scrape).</summary>
    public EngineStatus Status { get; private set; }

    /// <summary>True when the last observation found the engine's counters reset (it restarted): /version is read again.</summary>
    public bool RestartDetected { get; private set; }

    /// <summary>Points currently in the window (for tests).</summary>
    internal int WindowPoints => _count;

    /// <summary>Takes one scrape's outcome at <paramref name="now"/> and returns the new status.</summary>
    public EngineStatus Observe(in ScrapeOutcome outcome, DateTimeOffset now)
    {
        var previous = Status;
        RestartDetected = false;
        var next = previous with { EngineVersion = outcome.Version ?? previous.EngineVersion };

        if (outcome.Metrics is { } metrics)
        {
            Push(metrics, now);
            next = WithMetrics(next, metrics, now);
            next = next with { Stalled = outcome.HealthOk && StalledAt(metrics, now) };
        }

        if (outcome.Succeeded)
        {
            _failures = 0;
            _lastSuccess = now;
        }
        else
        {
            _failures++;
        }

        var fresh = _lastSuccess is { } last && now - last <= _options.StaleAfter;
        next = next with
        {
            Reachable = _lastSuccess is not null && _failures < _options.UnreachableAfterFailures && fresh,
            ConsecutiveScrapeErrors = _failures,
            LastScrapeError = ErrorText(outcome),
            ObservedAt = _lastSuccess,
        };

        next = next with { Score = _scoring.Score(next) };
        Status = next;
        return next;
    }

    private EngineStatus WithMetrics(EngineStatus status, VllmScrape m, DateTimeOffset now)
    {
        var generation = m.Has(VllmSeries.KvCacheUsage) ? MetricGeneration.V1
            : m.Has(VllmSeries.GpuCacheUsage) ? MetricGeneration.V0
            : status.Generation;
        var kv = m.Has(VllmSeries.KvCacheUsage) ? m.Value(VllmSeries.KvCacheUsage) : m.Value(VllmSeries.GpuCacheUsage);
        var pressure = PressureHysteresis.Next(status.Pressure, kv, _options.PressureOpenThreshold, _options.PressureCloseThreshold);

        var head = _ring[Index(_count - 1)];
        var window = _count >= 2 ? _ring[_start] : null;
        var seconds = window is null ? 0 : (head.At - window.At).TotalSeconds;

        double Delta(VllmSeries s) => window is not null && seconds > 0 && head.Has(s) && window.Has(s)
            ? head.Values[(int)s] - window.Values[(int)s]
            : double.NaN;

        double Rate(VllmSeries s) => Delta(s) / seconds;

        // Prefix-cache hits over queries: V1 names, else the older gpu_ names, else the V0 engine's own gauge.
        var queries = Delta(VllmSeries.PrefixCacheQueries);
        var hits = Delta(VllmSeries.PrefixCacheHits);
        if (double.IsNaN(queries))
        {
            queries = Delta(VllmSeries.GpuPrefixCacheQueries);
            hits = Delta(VllmSeries.GpuPrefixCacheHits);
        }

        var hitRate = queries > 0 ? Math.Clamp(hits / queries, 0, 1) : double.NaN;
        if (double.IsNaN(hitRate) && m.Value(VllmSeries.GpuPrefixCacheHitRate) is var gauge && gauge >= 0)
        {
            hitRate = Math.Clamp(gauge, 0, 1);
        }

        // Speculative decoding: accepted / proposed; mean acceptance length is 1 + accepted per draft (vLLM's own
        // definition). Engines without the drafts counter: drafts = draft tokens / k from the catalog.
        var draftTokens = Delta(VllmSeries.SpecDecodeDraftTokens);
        var accepted = Delta(VllmSeries.SpecDecodeAcceptedTokens);
        var drafts = Delta(VllmSeries.SpecDecodeDrafts);
        if (double.IsNaN(drafts) && NumSpeculativeTokens > 0)
        {
            drafts = draftTokens / NumSpeculativeTokens;
        }

        var acceptance = draftTokens > 0 ? Math.Clamp(accepted / draftTokens, 0, 1) : double.NaN;
        var meanLength = drafts > 0 ? 1 + (accepted / drafts) : double.NaN;

        var itlSeries = head.ItlSeries;
        var (ttft50, ttft95) = Quantiles(head.Ttft, window?.Ttft);
        var (itl50, itl95) = window is not null && window.ItlSeries == itlSeries ? Quantiles(head.Itl, window.Itl) : (double.NaN, double.NaN);

        return status with
        {
            Generation = generation,
            KvCacheUsage = kv,
            Pressure = pressure,
            Running = m.Value(VllmSeries.Running),
            Waiting = m.Value(VllmSeries.Waiting),
            PreemptionsPerSecond = Rate(VllmSeries.Preemptions),
            GenerationTokensPerSecond = Rate(VllmSeries.GenerationTokens),
            PrefixCacheHitRate = hitRate,
            SpecAcceptanceRate = acceptance,
            SpecMeanAcceptanceLength = meanLength,
            SpecDraftTokens = draftTokens,
            SpecAcceptedTokens = accepted,
            SpecDrafts = drafts,
            TtftP50Seconds = ttft50,
            TtftP95Seconds = ttft95,
            ItlP50Seconds = itl50,
            ItlP95Seconds = itl95,
            MissingSeries = Missing(m, generation, status.MissingSeries),
        };
    }

    private (double P50, double P95) Quantiles(HistogramCounts head, HistogramCounts? window)
    {
        if (window is null || head.Length == 0 || !head.SameLayout(window))
        {
            return (double.NaN, double.NaN);
        }

        var n = head.Length;
        var delta = _scratchA.AsSpan(0, n);
        var h = head.Counts;
        var w = window.Counts;
        for (var i = 0; i < n; i++)
        {
            delta[i] = h[i] - w[i];
        }

        var bounds = _scratchB.AsSpan(0, n);
        head.Bounds.CopyTo(bounds);
        return (HistogramQuantile.Compute(0.5, bounds, delta), HistogramQuantile.Compute(0.95, bounds, delta));
    }

    /// <summary>Running requests and flat generated tokens for StallAfter, while /health said 200.</summary>
    private bool StalledAt(VllmScrape m, DateTimeOffset now)
    {
        var generated = m.Value(VllmSeries.GenerationTokens);
        var running = m.Value(VllmSeries.Running);
        if (double.IsNaN(generated) || !(running > 0) || generated != _lastGenerationTokens || RestartDetected)
        {
            _progressAt = now;
        }

        _lastGenerationTokens = generated;
        return running > 0 && !double.IsNaN(generated) && now - _progressAt >= _options.StallAfter;
    }

    private IReadOnlyList<string> Missing(VllmScrape m, MetricGeneration generation, IReadOnlyList<string> previous)
    {
        Span<VllmSeries> missing = stackalloc VllmSeries[8];
        var count = 0;
        void Expect(Span<VllmSeries> list, bool present, VllmSeries name)
        {
            if (!present)
            {
                list[count++] = name;
            }
        }

        var v0 = generation == MetricGeneration.V0;
        Expect(missing, m.Has(VllmSeries.Running), VllmSeries.Running);
        Expect(missing, m.Has(VllmSeries.Waiting), VllmSeries.Waiting);
        Expect(missing, m.Has(VllmSeries.KvCacheUsage) || m.Has(VllmSeries.GpuCacheUsage), v0 ? VllmSeries.GpuCacheUsage : VllmSeries.KvCacheUsage);
        Expect(missing, m.Has(VllmSeries.Preemptions), VllmSeries.Preemptions);
        Expect(missing, m.Has(VllmSeries.GenerationTokens), VllmSeries.GenerationTokens);
        var prefix = v0
            ? (m.Has(VllmSeries.GpuPrefixCacheQueries) && m.Has(VllmSeries.GpuPrefixCacheHits)) || m.Has(VllmSeries.GpuPrefixCacheHitRate)
              || (m.Has(VllmSeries.PrefixCacheQueries) && m.Has(VllmSeries.PrefixCacheHits))
            : (m.Has(VllmSeries.PrefixCacheQueries) && m.Has(VllmSeries.PrefixCacheHits))
              || (m.Has(VllmSeries.GpuPrefixCacheQueries) && m.Has(VllmSeries.GpuPrefixCacheHits));
        Expect(missing, prefix, v0 ? VllmSeries.GpuPrefixCacheQueries : VllmSeries.PrefixCacheQueries);
        Expect(missing, m.Has(VllmSeries.TimeToFirstToken), VllmSeries.TimeToFirstToken);
        Expect(missing, m.Has(VllmSeries.InterTokenLatency) || m.Has(VllmSeries.TimePerOutputToken), v0 ? VllmSeries.TimePerOutputToken : VllmSeries.InterTokenLatency);

        var specCount = 0;
        Span<VllmSeries> spec = stackalloc VllmSeries[3];
        if (NumSpeculativeTokens > 0)
        {
            if (!v0 && !m.Has(VllmSeries.SpecDecodeDrafts))
            {
                spec[specCount++] = VllmSeries.SpecDecodeDrafts;
            }

            if (!m.Has(VllmSeries.SpecDecodeDraftTokens))
            {
                spec[specCount++] = VllmSeries.SpecDecodeDraftTokens;
            }

            if (!m.Has(VllmSeries.SpecDecodeAcceptedTokens))
            {
                spec[specCount++] = VllmSeries.SpecDecodeAcceptedTokens;
            }
        }

        // The same list as last time is kept (no allocation in the steady state, where nothing is missing).
        var total = count + specCount;
        if (total == previous.Count)
        {
            var same = true;
            for (var i = 0; i < total && same; i++)
            {
                same = previous[i] == VllmSeriesInfo.Name(i < count ? missing[i] : spec[i - count]);
            }

            if (same)
            {
                return previous;
            }
        }

        if (total == 0)
        {
            return [];
        }

        var names = new string[total];
        for (var i = 0; i < total; i++)
        {
            names[i] = VllmSeriesInfo.Name(i < count ? missing[i] : spec[i - count]);
        }

        return names;
    }

    private void Push(VllmScrape m, DateTimeOffset now)
    {
        if (_count > 0 && IsReset(_ring[Index(_count - 1)], m))
        {
            RestartDetected = true;
            _start = 0;
            _count = 0;
        }

        if (_count == _ring.Length)
        {
            _start = (_start + 1) % _ring.Length;
            _count--;
        }

        var point = _ring[Index(_count)];
        _count++;
        point.Set(m, now);

        // Keep exactly one point at or before the window's start, so deltas cover the whole window.
        var windowStart = now - _options.Window;
        while (_count >= 2 && _ring[Index(1)].At <= windowStart)
        {
            _start = (_start + 1) % _ring.Length;
            _count--;
        }
    }

    private static bool IsReset(Point last, VllmScrape m)
    {
        for (var s = 0; s < VllmSeriesInfo.Count; s++)
        {
            var series = (VllmSeries)s;
            if (VllmSeriesInfo.IsCounter(series) && last.Has(series) && m.Has(series) && m.Values[s] < last.Values[s])
            {
                return true;
            }
        }

        var ttft = m.Histogram(VllmSeries.TimeToFirstToken);
        return (last.Ttft.Length > 0 && ttft.Length > 0 && (!last.Ttft.SameLayout(ttft) || ttft.Total < last.Ttft.Total));
    }

    private int Index(int offset) => (_start + offset) % _ring.Length;

    private static string ErrorText(in ScrapeOutcome outcome)
    {
        if (!outcome.Succeeded)
        {
            return outcome.Detail;
        }

        if (outcome.Metrics is { InvalidLines: > 0 } m)
        {
            return $"{m.InvalidLines} invalid line(s), first at line {m.FirstInvalidLine}: {m.FirstInvalidError}";
        }

        return string.Empty;
    }

    /// <summary>One scrape in the window: its series and the two latency histograms.</summary>
    private sealed class Point
    {
        private uint _present;

        public DateTimeOffset At { get; private set; }

        public double[] Values { get; } = new double[VllmSeriesInfo.Count];

        public HistogramCounts Ttft { get; } = new();

        public HistogramCounts Itl { get; } = new();

        /// <summary>Which histogram <see cref="Itl"/> holds: inter_token_latency, else time_per_output_token.</summary>
        public VllmSeries ItlSeries { get; private set; }

        public bool Has(VllmSeries s) => (_present & (1u << (int)s)) != 0;

        public void Set(VllmScrape m, DateTimeOffset at)
        {
            At = at;
            _present = m.PresentMask;
            m.Values.CopyTo(Values);
            Ttft.CopyFrom(m.Histogram(VllmSeries.TimeToFirstToken));
            ItlSeries = m.Has(VllmSeries.InterTokenLatency) ? VllmSeries.InterTokenLatency : VllmSeries.TimePerOutputToken;
            Itl.CopyFrom(m.Histogram(ItlSeries));
        }
    }
}

/// <summary>Pressure with hysteresis: opens above the open threshold, closes only below the close threshold.</summary>
internal static class PressureHysteresis
{
    /// <summary>An unknown usage (NaN) keeps the current state.</summary>
    public static PressureState Next(PressureState current, double kvCacheUsage, double openThreshold, double closeThreshold)
    {
        if (double.IsNaN(kvCacheUsage))
        {
            return current;
        }

        return current switch
        {
            PressureState.Normal when kvCacheUsage > openThreshold => PressureState.UnderPressure,
            PressureState.UnderPressure when kvCacheUsage < closeThreshold => PressureState.Normal,
            _ => current,
        };
    }
}
