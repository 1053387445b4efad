using Platform.Classifier.V1;
using Platform.Fleet.Catalog;
using Platform.Gateway.Pipeline;

namespace Platform.Gateway.Routing;

/// <summary>What routing needs to know about a request.</summary>
/// <param name="Model">The requested model.</param>
/// <param name="Kind">Code or general (after classification; Unspecified treated as general).</param>
/// <param name="PrefixHash">Hash of the leading prompt blocks for prefix affinity (null: no affinity).</param>
/// <param name="Exclude">Engines already tried for this request (retries and continuations avoid them).</param>
/// <param name="RequiresNoSpeculation">Only pools without speculative decoding may serve.</param>
internal sealed record RoutingRequest(string Model, TaskKind Kind, ulong? PrefixHash, IReadOnlyCollection<string> Exclude, bool RequiresNoSpeculation);

/// <summary>
/// Picks the engine for a request: pools serving the model, the pool whose affinity matches the kind first; inside
/// the pool engines not draining, breaker not open, pressure normal; scored by the health view and the gateway's own
/// in-flight counts; when no primary engine can take it, the model's fallback pool. Null: nothing can take it (503).
/// Synchronous and allocation-light: it runs per attempt on the hot path.
/// </summary>
internal interface IEngineRouter
{
    RouteDecision? Route(RoutingRequest request);
}

/// <summary>A routable engine with what a selection policy may weigh.</summary>
/// <param name="Engine">The engine.</param>
/// <param name="HealthScore">0 to 100 (higher is healthier); the neutral 50 when unknown.</param>
/// <param name="InFlight">The gateway's requests on the engine.</param>
/// <param name="Waiting">The engine's own queue (scraped or from the HealthScorer).</param>
/// <param name="LatencyFactor">How much longer than the pool's fastest engine it takes per request, from observed
/// latency (<see cref="LatencyScoring"/>): 1 when alike, unknown or latency-aware routing is off.</param>
internal readonly record struct EngineCandidate(EngineInfo Engine, double HealthScore, int InFlight, double Waiting, double LatencyFactor = 1);

/// <summary>
/// Chooses one engine among healthy candidates of one pool (YARP's ILoadBalancingPolicy shape). Implementations:
/// "power-of-two-choices" (default), "least-loaded", "round-robin" (the benchmark baseline). Chosen by name from
/// configuration (Gateway:Routing:Policy).
/// </summary>
internal interface IEngineSelectionPolicy
{
    string Name { get; }

    EngineInfo Pick(ReadOnlySpan<EngineCandidate> candidates, RoutingRequest request);
}

/// <summary>The gateway's own in-flight request count per engine (added to the health view's load).</summary>
internal interface IInFlightTracker
{
    int Count(string engineId);

    /// <summary>Counts a request on an engine until the returned lease is disposed.</summary>
    IDisposable Track(string engineId);
}

/// <summary>
/// Asks the Classifier service (gRPC) whether a conversation is code or general. Never throws and never blocks long:
/// unavailable, slow (budget ~50 ms) or failing means General.
/// </summary>
internal interface IRequestClassifier
{
    ValueTask<TaskKind> ClassifyAsync(IReadOnlyList<ChatTurn> messages, CancellationToken cancellationToken);
}
