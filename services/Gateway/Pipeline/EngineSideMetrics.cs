using System.Diagnostics.Metrics;
using Platform.Fleet.State;

namespace Platform.Gateway.Pipeline;

/// <summary>
/// The engine side's instruments on the "Platform.Gateway" meter: routing decisions, retries, continuations,
/// fallbacks, upstream failures and time to first token, breaker transitions, retry-budget rejections, and the
/// routing's latency estimates and latency outliers per engine.
/// </summary>
internal sealed class EngineSideMetrics
{
    public const string MeterName = "Platform.Gateway";

    private static readonly double[] TtftBuckets = [0.001, 0.005, 0.01, 0.02, 0.04, 0.06, 0.08, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0, 30.0];

    private readonly Counter<long> _routingDecisions;
    private readonly Counter<long> _retries;
    private readonly Counter<long> _continuations;
    private readonly Counter<long> _fallbacks;
    private readonly Counter<long> _upstreamFailures;
    private readonly Counter<long> _breakerTransitions;
    private readonly Counter<long> _classifications;
    private readonly Counter<long> _retryBudgetExhausted;
    private readonly Histogram<double> _upstreamTtft;
    private readonly Counter<long> _latencyEjections;
    private readonly Counter<long> _latencyProbes;
    private readonly Meter _meter;

    public EngineSideMetrics(IMeterFactory meterFactory)
    {
        var meter = _meter = meterFactory.Create(MeterName);
        _routingDecisions = meter.CreateCounter<long>("platform.gateway.routing.decisions", "{decision}", "Engine choices by pool and reason.");
        _retries = meter.CreateCounter<long>("platform.gateway.retries", "{retry}", "Attempts retried on another engine before the first token, by error.");
        _continuations = meter.CreateCounter<long>("platform.gateway.continuations", "{continuation}", "Streams continued on another engine after the first token, by error and outcome.");
        _fallbacks = meter.CreateCounter<long>("platform.gateway.fallbacks", "{request}", "Requests served by a fallback model's pool, by model and reason.");
        _upstreamFailures = meter.CreateCounter<long>("platform.gateway.upstream.failures", "{attempt}", "Engine calls that failed, by pool and error.");
        _breakerTransitions = meter.CreateCounter<long>("platform.gateway.breaker.transitions", "{transition}", "Failure-breaker transitions seen by this replica, by engine and state.");
        _classifications = meter.CreateCounter<long>(
            "platform.gateway.classifications", "{request}",
            "Task kinds decided for requests without a hint, by kind and outcome (classified, forced, not_configured, skipped_after_failure, deadline_exceeded, failed).");
        _retryBudgetExhausted = meter.CreateCounter<long>("platform.gateway.retry_budget.exhausted", "{request}", "Retries refused because the retry budget was spent.");
        _upstreamTtft = meter.CreateHistogram(
            "platform.gateway.upstream.time_to_first_token", "s", "Time from sending an attempt to an engine to its first stream event, by pool.",
            advice: new InstrumentAdvice<double> { HistogramBucketBoundaries = TtftBuckets });
        _latencyEjections = meter.CreateCounter<long>(
            "platform.gateway.engine.latency_outlier.ejections", "{ejection}", "Engines found to be latency outliers (then given probes only), by engine.");
        _latencyProbes = meter.CreateCounter<long>(
            "platform.gateway.engine.latency_outlier.probes", "{request}", "Requests sent to a latency outlier to notice its recovery, by engine.");
    }

    /// <summary>Gauges read from the routing's latency tracker on collection (one series per engine it has seen).</summary>
    public void ObserveEngineLatency(
        Func<IEnumerable<Measurement<double>>> timeToFirstToken,
        Func<IEnumerable<Measurement<double>>> interTokenLatency,
        Func<IEnumerable<Measurement<int>>> outliers,
        Func<IEnumerable<Measurement<double>>> stalls)
    {
        _meter.CreateObservableGauge(
            "platform.gateway.engine.time_to_first_token.estimate", timeToFirstToken, "s",
            "Time-decayed average of the upstream time to first token routing uses, by engine.");
        _meter.CreateObservableGauge(
            "platform.gateway.engine.inter_token_latency.estimate", interTokenLatency, "s",
            "Time-decayed average of the inter-token latency routing uses, by engine.");
        _meter.CreateObservableGauge(
            "platform.gateway.engine.latency_outlier", outliers, unit: null,
            "1 while the engine is a latency outlier (probes only), 0 otherwise, by engine.");
        _meter.CreateObservableGauge(
            "platform.gateway.engine.stall", stalls, "s",
            "How long the engine has sent no first token while requests wait for one, from Gateway:Routing:StallAfter on (else 0), by engine.");
    }

    public void Routed(RouteDecision route) =>
        _routingDecisions.Add(1, new("pool", route.Pool), new("reason", route.Reason), new("fallback", route.Fallback));

    public void Fallback(string model, string reason) => _fallbacks.Add(1, new("model", model), new("reason", reason));

    public void Retried(string error) => _retries.Add(1, new KeyValuePair<string, object?>("error", error));

    public void Continued(string error, bool success) => _continuations.Add(1, new("error", error), new("outcome", success ? "continued" : "failed"));

    public void UpstreamFailed(string pool, string error) => _upstreamFailures.Add(1, new("pool", pool), new("error", error));

    public void BreakerTransition(string engineId, BreakerState from, BreakerState to) =>
        _breakerTransitions.Add(1, new("engine", engineId), new("from", StateName(from)), new("to", StateName(to)));

    /// <summary>A task kind decided without a hint: <paramref name="outcome"/> says how (or why the classifier was not heard).</summary>
    public void Classified(string kind, string outcome) => _classifications.Add(1, new("kind", kind), new("outcome", outcome));

    public void RetryBudgetExhausted() => _retryBudgetExhausted.Add(1);

    public void LatencyOutlierEjected(string engineId) => _latencyEjections.Add(1, new KeyValuePair<string, object?>("engine", engineId));

    public void LatencyOutlierProbed(string engineId) => _latencyProbes.Add(1, new KeyValuePair<string, object?>("engine", engineId));

    public void UpstreamFirstToken(string pool, TimeSpan elapsed) => _upstreamTtft.Record(elapsed.TotalSeconds, new KeyValuePair<string, object?>("pool", pool));

    private static string StateName(BreakerState state) => state switch
    {
        BreakerState.Closed => "closed",
        BreakerState.Open => "open",
        _ => "half_open",
    };
}
