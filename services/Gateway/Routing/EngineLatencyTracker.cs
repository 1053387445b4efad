using System.Collections.Concurrent;
using System.Diagnostics.Metrics;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Platform.Gateway.Pipeline;

using Platform.Gateway.Health;

namespace Platform.Gateway.Routing;

/// <summary>One engine's latency as this gateway observed it: time-decayed averages and how many samples fed them.</summary>
/// <param name="TtftSeconds">Upstream time to first token (request sent to first stream event); NaN without samples.</param>
/// <param name="TtftSamples">Samples ever recorded for the TTFT average.</param>
/// <param name="ItlSeconds">Inter-token latency after the first token; NaN without samples.</param>
/// <param name="ItlSamples">Samples ever recorded for the ITL average.</param>
/// <param name="StallSeconds">
/// How long the engine has had requests waiting for their first token without sending one, when that is at least
/// <see cref="RoutingOptions.StallAfter"/>; else 0. A lower bound on its time to first token right now.
/// </param>
internal readonly record struct LatencyEstimate(double TtftSeconds, long TtftSamples, double ItlSeconds, long ItlSamples, double StallSeconds = 0)
{
    public static readonly LatencyEstimate None = new(double.NaN, 0, double.NaN, 0);
}

/// <summary>
/// Per-engine latency as the gateway sees it, for routing: time-decayed averages of the upstream time to first token
/// and of the inter-token latency, fed by the pipeline once at the first token and once at the end of each attempt
/// (never per token). Each average is the mean of the engine's samples weighted by <c>2^(-age / half-life)</c>: it
/// covers the last few half-lives whatever the request rate; one odd sample (a cold start, a GC pause) weighs as one
/// among the recent ones, not more; and after a quiet spell the old samples have faded, so an outlier's probes soon
/// decide its estimate. Also holds each engine's latency-outlier state (set by the router), its probe clock and its
/// metrics.
/// Between an attempt's request and its first token the engine also counts as waiting; an engine with waiting
/// attempts and no first token for <see cref="RoutingOptions.StallAfter"/> reports the wait as a stall, which the
/// router prices as a time to first token (a hung engine sends no first tokens, so its averages alone never move).
/// </summary>
/// <remarks>
/// Thread-safety: an engine's averages and waiting count are updated under its own lock (up to three updates per
/// attempt: sent, first token or given up, end); the router reads each published value and count without a lock
/// (aligned 64-bit reads are atomic; two of them may be one update apart, which routing tolerates). Outlier
/// transitions and probe grants are compare-and-swap, so exactly one caller wins each.
/// </remarks>
internal sealed partial class EngineLatencyTracker
{
    private readonly ConcurrentDictionary<string, Entry> _entries = new(StringComparer.Ordinal);
    private readonly TimeProvider _time;
    private readonly EngineSideMetrics _metrics;
    private readonly ILogger<EngineLatencyTracker> _logger;
    private readonly double _halfLifeTicks;
    private readonly long _probeIntervalTicks;
    private readonly int _probeRequests;
    private readonly long _stallAfterTicks;

    public EngineLatencyTracker(
        IOptions<RoutingOptions> options, TimeProvider time, EngineSideMetrics metrics, ILogger<EngineLatencyTracker> logger, EngineHealthView? health = null)
    {
        if (health is not null)
        {
            health.Recovered += Forget;
        }

        _time = time;
        _metrics = metrics;
        _logger = logger;
        _halfLifeTicks = options.Value.LatencyHalfLife.TotalSeconds * time.TimestampFrequency;
        _probeIntervalTicks = (long)(options.Value.OutlierProbeInterval.TotalSeconds * time.TimestampFrequency);
        _probeRequests = options.Value.OutlierProbeRequests;
        _stallAfterTicks = (long)(options.Value.StallAfter.TotalSeconds * time.TimestampFrequency);
        metrics.ObserveEngineLatency(ObserveTtft, ObserveItl, ObserveOutliers, ObserveStalls);
    }

    /// <summary>
    /// An attempt's request is being sent to the engine: it waits for its first token until
    /// <see cref="RecordFirstToken"/> or <see cref="AttemptEndedWithoutFirstToken"/>, exactly one of which follows.
    /// </summary>
    public void AttemptSent(string engineId)
    {
        var entry = Get(engineId);
        var now = _time.GetTimestamp();
        lock (entry.Sync)
        {
            if (entry.Waiting++ == 0)
            {
                // Nothing was waiting: the engine's silence starts counting now.
                Volatile.Write(ref entry.LastProgress, now);
            }
        }
    }

    /// <summary>Records an attempt's time from sending the request to the engine's first stream event.</summary>
    public void RecordFirstToken(string engineId, TimeSpan ttft)
    {
        var entry = Get(engineId);
        var now = _time.GetTimestamp();
        lock (entry.Sync)
        {
            entry.Ttft.Add(ttft.TotalSeconds, now, _halfLifeTicks);
            entry.Waiting = Math.Max(0, entry.Waiting - 1);
            Volatile.Write(ref entry.LastProgress, now);
        }
    }

    /// <summary>An attempt sent with <see cref="AttemptSent"/> ended (failed, timed out, cancelled) before its first token.</summary>
    public void AttemptEndedWithoutFirstToken(string engineId)
    {
        var entry = Get(engineId);
        lock (entry.Sync)
        {
            entry.Waiting = Math.Max(0, entry.Waiting - 1);
        }
    }

    /// <summary>
    /// Records the inter-token latency of an attempt that ended normally: (duration - TTFT) / (tokens - 1), the time
    /// per token after the first (tokens per choice). Fewer than two tokens say nothing about it.
    /// </summary>
    public void RecordStream(string engineId, TimeSpan ttft, TimeSpan duration, int tokens)
    {
        if (tokens < 2 || duration < ttft)
        {
            return;
        }

        var entry = Get(engineId);
        var now = _time.GetTimestamp();
        var itl = (duration - ttft).TotalSeconds / (tokens - 1);
        lock (entry.Sync)
        {
            entry.Itl.Add(itl, now, _halfLifeTicks);
        }
    }

    /// <summary>The engine's current estimate (<see cref="LatencyEstimate.None"/> when never observed).</summary>
    public LatencyEstimate Estimate(string engineId)
    {
        if (!_entries.TryGetValue(engineId, out var e))
        {
            return LatencyEstimate.None;
        }

        return new LatencyEstimate(
            Volatile.Read(ref e.Ttft.Value), Volatile.Read(ref e.Ttft.Samples), Volatile.Read(ref e.Itl.Value), Volatile.Read(ref e.Itl.Samples), Stall(e));
    }

    /// <summary>Seconds since the engine's last first token while attempts wait for one, from <see cref="RoutingOptions.StallAfter"/> on; else 0.</summary>
    private double Stall(Entry e)
    {
        if (Volatile.Read(ref e.Waiting) == 0)
        {
            return 0;
        }

        var silent = _time.GetTimestamp() - Volatile.Read(ref e.LastProgress);
        return silent >= _stallAfterTicks ? (double)silent / _time.TimestampFrequency : 0;
    }

    /// <summary>Whether the router last found the engine to be a latency outlier.</summary>
    public bool IsOutlier(string engineId) => _entries.TryGetValue(engineId, out var e) && Volatile.Read(ref e.Outlier) == 1;

    /// <summary>
    /// The router's verdict for an engine; a change is logged and counted once, and an engine just ejected waits a
    /// whole probe interval and <see cref="RoutingOptions.OutlierProbeRequests"/> requests for its first probe.
    /// </summary>
    public void SetOutlier(string engineId, bool outlier, in LatencyEstimate estimate, double ratio)
    {
        var entry = Get(engineId);
        var (from, to) = outlier ? (0, 1) : (1, 0);
        if (Volatile.Read(ref entry.Outlier) == to || Interlocked.CompareExchange(ref entry.Outlier, to, from) != from)
        {
            return;
        }

        if (outlier)
        {
            Volatile.Write(ref entry.PassedOver, 0);
            Volatile.Write(ref entry.LastProbe, _time.GetTimestamp());
            _metrics.LatencyOutlierEjected(engineId);
            LogEjected(_logger, engineId, estimate.TtftSeconds * 1000, estimate.ItlSeconds * 1000, estimate.StallSeconds * 1000, ratio);
        }
        else
        {
            LogReadmitted(_logger, engineId, estimate.TtftSeconds * 1000, estimate.ItlSeconds * 1000, ratio);
        }
    }

    /// <summary>
    /// Called for an outlier engine on each request routed while it is set aside. True for exactly one caller once
    /// both a probe interval and <see cref="RoutingOptions.OutlierProbeRequests"/> requests have passed since the
    /// last probe (or the ejection): that request probes it. The trickle is thus at most one per interval and at most
    /// one in that many requests, whatever the traffic.
    /// </summary>
    public bool TryTakeProbe(string engineId)
    {
        var entry = Get(engineId);
        if (Interlocked.Increment(ref entry.PassedOver) < _probeRequests)
        {
            return false;
        }

        var now = _time.GetTimestamp();
        var last = Volatile.Read(ref entry.LastProbe);
        if (now - last < _probeIntervalTicks || Interlocked.CompareExchange(ref entry.LastProbe, now, last) != last)
        {
            return false;
        }

        Volatile.Write(ref entry.PassedOver, 0);
        _metrics.LatencyOutlierProbed(engineId);
        return true;
    }

    /// <summary>
    /// Forgets what was learnt of an engine whose state just changed for the better (its KV-cache pressure cleared, it
    /// is reachable again): latency measured while it was pressured or failing says nothing about it now, and would
    /// keep a recovered engine out as an outlier long after the health view let it back. It is then priced as an
    /// unknown engine (the pool's median) and learnt again from its next requests.
    /// </summary>
    public void Forget(string engineId, string reason)
    {
        if (!_entries.TryGetValue(engineId, out var entry))
        {
            return;
        }

        lock (entry.Sync)
        {
            entry.Ttft = DecayedMean.Empty;
            entry.Itl = DecayedMean.Empty;
        }

        if (Interlocked.Exchange(ref entry.Outlier, 0) == 1)
        {
            LogReadmittedAfterRecovery(_logger, engineId, reason);
        }
    }

    private Entry Get(string engineId) => _entries.GetOrAdd(engineId, static _ => new Entry());

    private IEnumerable<Measurement<double>> ObserveTtft()
    {
        foreach (var (id, e) in _entries)
        {
            if (Volatile.Read(ref e.Ttft.Samples) > 0)
            {
                yield return new Measurement<double>(Volatile.Read(ref e.Ttft.Value), new KeyValuePair<string, object?>("engine", id));
            }
        }
    }

    private IEnumerable<Measurement<double>> ObserveItl()
    {
        foreach (var (id, e) in _entries)
        {
            if (Volatile.Read(ref e.Itl.Samples) > 0)
            {
                yield return new Measurement<double>(Volatile.Read(ref e.Itl.Value), new KeyValuePair<string, object?>("engine", id));
            }
        }
    }

    private IEnumerable<Measurement<double>> ObserveStalls()
    {
        foreach (var (id, e) in _entries)
        {
            yield return new Measurement<double>(Stall(e), new KeyValuePair<string, object?>("engine", id));
        }
    }

    private IEnumerable<Measurement<int>> ObserveOutliers()
    {
        foreach (var (id, e) in _entries)
        {
            yield return new Measurement<int>(Volatile.Read(ref e.Outlier), new KeyValuePair<string, object?>("engine", id));
        }
    }

    private sealed class Entry
    {
        public readonly Lock Sync = new();
        public DecayedMean Ttft = DecayedMean.Empty;
        public DecayedMean Itl = DecayedMean.Empty;
        public int Outlier;
        public long LastProbe;
        public long PassedOver;

        /// <summary>Attempts sent and waiting for their first token (under <see cref="Sync"/>; read without it).</summary>
        public int Waiting;

        /// <summary>The last first token, or when <see cref="Waiting"/> last left 0 (timestamp).</summary>
        public long LastProgress;
    }

    /// <summary>
    /// Σ 2^(-age/h)·x / Σ 2^(-age/h) over the samples, kept as two sums decayed to the last sample's time: a new sample
    /// first decays both by the time since the previous one, then adds itself with weight 1. Mutated under the entry's
    /// lock; <see cref="Value"/> and <see cref="Samples"/> are published for lock-free reads.
    /// </summary>
    private struct DecayedMean
    {
        public static readonly DecayedMean Empty = new() { Value = double.NaN };

        public double Value;
        public long Samples;
        private double _sum;
        private double _weight;
        private long _at;

        public void Add(double sample, long now, double halfLifeTicks)
        {
            var decay = Samples == 0 ? 0 : Math.Pow(2, -Math.Max(0, now - _at) / halfLifeTicks);
            _sum = (_sum * decay) + sample;
            _weight = (_weight * decay) + 1;
            _at = now;
            Volatile.Write(ref Value, _sum / _weight);
            Volatile.Write(ref Samples, Samples + 1);
        }
    }

    [LoggerMessage(EventId = 3501, Level = LogLevel.Warning, Message = "Engine {EngineId} ejected as a latency outlier: TTFT {TtftMs:F1} ms, ITL {ItlMs:F2} ms, no first token for {StallMs:F0} ms while requests wait, {Ratio:F2}x the pool's median; it gets probes only")]
    private static partial void LogEjected(ILogger logger, string engineId, double ttftMs, double itlMs, double stallMs, double ratio);

    [LoggerMessage(EventId = 3502, Level = LogLevel.Information, Message = "Engine {EngineId} readmitted: TTFT {TtftMs:F1} ms, ITL {ItlMs:F2} ms, {Ratio:F2}x the pool's median")]
    private static partial void LogReadmitted(ILogger logger, string engineId, double ttftMs, double itlMs, double ratio);

    [LoggerMessage(EventId = 3503, Level = LogLevel.Information, Message = "Engine {EngineId} readmitted ({Reason}): its latency is learnt again")]
    private static partial void LogReadmittedAfterRecovery(ILogger logger, string engineId, string reason);
}
