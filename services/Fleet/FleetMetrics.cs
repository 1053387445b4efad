using System.Diagnostics.Metrics;

namespace Platform.Fleet;

/// <summary>Instruments of the fleet library (Meter <c>Platform.Fleet</c>); names are listed in README.md.</summary>
internal sealed class FleetMetrics : IDisposable
{
    public const string MeterName = "Platform.Fleet";

    private readonly Meter _meter;
    private readonly Counter<long> _transitions;
    private readonly Histogram<double> _propagationLag;
    private readonly Counter<long> _redisErrors;
    private readonly Counter<long> _droppedSuccesses;
    private readonly Counter<long> _rateLimitDecisions;
    private Func<int>? _redisAvailable;

    public FleetMetrics(IMeterFactory? meterFactory = null)
    {
        _meter = meterFactory?.Create(MeterName) ?? new Meter(MeterName);
        _transitions = _meter.CreateCounter<long>("platform.fleet.breaker.transitions", "{transition}", "Breaker transitions seen by this replica, by engine, from and to.");
        _propagationLag = _meter.CreateHistogram<double>(
            "platform.fleet.propagation.lag",
            "s",
            "Time from a change made by another replica to its application here (pub/sub).",
            advice: new InstrumentAdvice<double> { HistogramBucketBoundaries = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 5] });
        _redisErrors = _meter.CreateCounter<long>("platform.fleet.redis.errors", "{error}", "Redis calls that failed or timed out, by operation.");
        _droppedSuccesses = _meter.CreateCounter<long>("platform.fleet.breaker.dropped_successes", "{outcome}", "Successes dropped because the background queue was full.");
        _rateLimitDecisions = _meter.CreateCounter<long>("platform.fleet.ratelimit.decisions", "{decision}", "Rate-limit decisions by result, limit and source (redis or local).");
        _meter.CreateObservableGauge("platform.fleet.redis.available", () => _redisAvailable?.Invoke() ?? 0, "1", "1 while Redis answers, 0 while the fleet runs on local state.");
    }

    public void ObserveRedisAvailability(Func<int> available) => _redisAvailable = available;

    public void Transition(string engineId, BreakerStateName from, BreakerStateName to) =>
        _transitions.Add(1, new("engine", engineId), new("from", from.Value), new("to", to.Value));

    public void PropagationLag(TimeSpan lag) => _propagationLag.Record(Math.Max(0, lag.TotalSeconds));

    public void RedisError(string operation) => _redisErrors.Add(1, new KeyValuePair<string, object?>("operation", operation));

    public void DroppedSuccess() => _droppedSuccesses.Add(1);

    public void RateLimitDecision(bool allowed, string? limit, bool local) =>
        _rateLimitDecisions.Add(1, new("result", allowed ? "allowed" : "rejected"), new("limit", limit ?? "none"), new("source", local ? "local" : "redis"));

    public void Dispose() => _meter.Dispose();
}

/// <summary>A breaker state's stored name (closed, open, half_open) as a metric tag.</summary>
internal readonly record struct BreakerStateName(string Value);
