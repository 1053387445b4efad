using System.Buffers;
using Microsoft.Extensions.Options;
using Platform.Classifier.V1;
using Platform.Fleet.Catalog;
using Platform.Fleet.State;
using Platform.Gateway.Health;
using Platform.Gateway.Pipeline;

namespace Platform.Gateway.Routing;

/// <summary>
/// Model → pools (the pool whose affinity matches the kind first) → routable engines (not excluded, breaker closed,
/// not draining, reachable, pressure normal) → priced by observed latency, latency outliers set aside but for a
/// probe per interval → prefix affinity within the load bound, else the selection policy. When no primary engine
/// can take the request, the model's fallback pools, with the reason. Reads only local, lock-free state; the
/// candidate buffers are pooled or on the stack.
/// </summary>
internal sealed class EngineRouter : IEngineRouter
{
    private const double UnknownScore = 50;
    private const int StackCandidates = 16;
    private readonly IFleetCatalog _catalog;
    private readonly IFleetState _state;
    private readonly IEngineHealthView _health;
    private readonly IInFlightTracker _inFlight;
    private readonly EngineLatencyTracker _latency;
    private readonly IEngineSelectionPolicy _policy;
    private readonly RoutingOptions _options;

    public EngineRouter(
        IFleetCatalog catalog,
        IFleetState state,
        IEngineHealthView health,
        IInFlightTracker inFlight,
        EngineLatencyTracker latency,
        IEnumerable<IEngineSelectionPolicy> policies,
        IOptions<RoutingOptions> options)
    {
        _catalog = catalog;
        _state = state;
        _health = health;
        _inFlight = inFlight;
        _latency = latency;
        _options = options.Value;
        _policy = policies.FirstOrDefault(p => string.Equals(p.Name, _options.Policy, StringComparison.OrdinalIgnoreCase))
            ?? throw new InvalidOperationException($"Gateway:Routing:Policy '{_options.Policy}' is not a registered selection policy.");
    }

    /// <summary>The policy in force (its name is what the configuration said).</summary>
    public IEngineSelectionPolicy Policy => _policy;

    public RouteDecision? Route(RoutingRequest request)
    {
        var model = _catalog.FindModel(request.Model);
        if (model is null)
        {
            return null;
        }

        var blocked = default(BlockCounts);
        var primary = RouteModel(model, request, fallback: false, null, ref blocked);
        if (primary is not null || model.FallbackModel is null)
        {
            return primary;
        }

        var fallbackModel = _catalog.FindModel(model.FallbackModel);
        if (fallbackModel is null)
        {
            return null;
        }

        var ignored = default(BlockCounts);
        return RouteModel(fallbackModel, request, fallback: true, blocked.Reason, ref ignored);
    }

    private RouteDecision? RouteModel(ModelInfo model, RoutingRequest request, bool fallback, string? fallbackReason, ref BlockCounts blocked)
    {
        var wanted = request.Kind == TaskKind.Code ? TaskAffinity.Code : TaskAffinity.General;
        var hasAffinityPool = false;
        foreach (var pool in model.Pools)
        {
            if (pool.Affinity == wanted && Eligible(pool, request))
            {
                hasAffinityPool = true;
                var decision = RoutePool(pool, request, fallback, fallbackReason ?? "affinity", ref blocked);
                if (decision is not null)
                {
                    return decision;
                }
            }
        }

        foreach (var pool in model.Pools)
        {
            if (pool.Affinity != wanted && Eligible(pool, request))
            {
                var reason = fallbackReason ?? (hasAffinityPool ? "affinity_pool_unavailable" : "no_affinity_pool");
                var decision = RoutePool(pool, request, fallback, reason, ref blocked);
                if (decision is not null)
                {
                    return decision;
                }
            }
        }

        return null;
    }

    private static bool Eligible(PoolInfo pool, RoutingRequest request) => !request.RequiresNoSpeculation || pool.Speculative is null;

    private RouteDecision? RoutePool(PoolInfo pool, RoutingRequest request, bool fallback, string reason, ref BlockCounts blocked)
    {
        var engines = pool.Engines;
        if (engines.Count == 0)
        {
            return null;
        }

        var buffer = ArrayPool<EngineCandidate>.Shared.Rent(engines.Count);
        try
        {
            var count = 0;
            foreach (var engine in engines)
            {
                if (Routable(engine, request, ref blocked, out var candidate))
                {
                    buffer[count++] = candidate;
                }
            }

            if (count == 0)
            {
                return null;
            }

            var candidates = buffer.AsSpan(0, count);
            if (_options.LatencyAware && count > 1)
            {
                if (PriceByLatency(candidates, out var routable) is { } probe)
                {
                    return new RouteDecision(probe, pool.Name, pool.Model, request.Kind, fallback, reason);
                }

                candidates = candidates[..routable];
            }

            var picked = PickAffine(candidates, request) ?? _policy.Pick(candidates, request);
            return new RouteDecision(picked, pool.Name, pool.Model, request.Kind, fallback, reason);
        }
        finally
        {
            ArrayPool<EngineCandidate>.Shared.Return(buffer, clearArray: true);
        }
    }

    private bool Routable(EngineInfo engine, RoutingRequest request, ref BlockCounts blocked, out EngineCandidate candidate)
    {
        candidate = default;
        if (Contains(request.Exclude, engine.Id))
        {
            blocked.Excluded++;
            return false;
        }

        if (_state.GetBreaker(engine.Id).State != BreakerState.Closed)
        {
            // Half-open engines get only the prober's request, never client traffic.
            blocked.BreakerOpen++;
            return false;
        }

        if (_state.IsDraining(engine.Id))
        {
            blocked.Draining++;
            return false;
        }

        var health = _health.Get(engine.Id);
        if (health is not null && !health.Reachable)
        {
            blocked.Unreachable++;
            return false;
        }

        if (health is not null && health.Pressure == PressureState.UnderPressure)
        {
            blocked.Pressure++;
            return false;
        }

        candidate = new EngineCandidate(
            engine,
            health is null || double.IsNaN(health.Score) ? UnknownScore : health.Score,
            _inFlight.Count(engine.Id),
            health is null || double.IsNaN(health.Waiting) ? 0 : health.Waiting);
        return true;
    }

    /// <summary>
    /// Sets each candidate's latency factor and records who is a latency outlier. When outliers and other engines are
    /// both there, the outliers move out of the candidates (<paramref name="routable"/> is what is left at the front),
    /// except that one whose probe is due is returned to serve this request. When every candidate is an outlier they
    /// all stay: a slow engine is better than none.
    /// </summary>
    private EngineInfo? PriceByLatency(Span<EngineCandidate> candidates, out int routable)
    {
        var n = routable = candidates.Length;
        var rentedEstimates = n > StackCandidates ? ArrayPool<LatencyEstimate>.Shared.Rent(n) : null;
        var rentedDoubles = n > StackCandidates ? ArrayPool<double>.Shared.Rent(3 * n) : null;
        try
        {
            Span<LatencyEstimate> estimates = rentedEstimates is null ? stackalloc LatencyEstimate[StackCandidates] : rentedEstimates;
            Span<double> doubles = rentedDoubles is null ? stackalloc double[3 * StackCandidates] : rentedDoubles;
            estimates = estimates[..n];
            var factors = doubles.Slice(0, n);
            var ratios = doubles.Slice(n, n);
            for (var i = 0; i < n; i++)
            {
                estimates[i] = _latency.Estimate(candidates[i].Engine.Id);
            }

            LatencyScoring.Score(estimates, _options.LatencyMinSamples, doubles.Slice(2 * n, n), factors, ratios);
            var outliers = 0;
            for (var i = 0; i < n; i++)
            {
                candidates[i] = candidates[i] with { LatencyFactor = factors[i] };
                var outlier = ratios[i] > _options.OutlierLatencyFactor;
                _latency.SetOutlier(candidates[i].Engine.Id, outlier, estimates[i], ratios[i]);
                outliers += outlier ? 1 : 0;
            }

            if (outliers == 0 || outliers == n)
            {
                return null;
            }

            var kept = 0;
            for (var i = 0; i < n; i++)
            {
                if (ratios[i] <= _options.OutlierLatencyFactor)
                {
                    candidates[kept++] = candidates[i];
                }
                else if (_latency.TryTakeProbe(candidates[i].Engine.Id))
                {
                    return candidates[i].Engine;
                }
            }

            routable = kept;
            return null;
        }
        finally
        {
            if (rentedEstimates is not null)
            {
                ArrayPool<LatencyEstimate>.Shared.Return(rentedEstimates);
            }

            if (rentedDoubles is not null)
            {
                ArrayPool<double>.Shared.Return(rentedDoubles);
            }
        }
    }

    /// <summary>Rendezvous hashing over the candidates; null when off, no prefix, or the affine engine is over the load bound.</summary>
    private EngineInfo? PickAffine(ReadOnlySpan<EngineCandidate> candidates, RoutingRequest request)
    {
        if (!_options.PrefixAffinity || request.PrefixHash is not { } prefix || candidates.Length == 1)
        {
            return null;
        }

        var best = 0;
        var bestWeight = 0UL;
        var minLoad = double.MaxValue;
        for (var i = 0; i < candidates.Length; i++)
        {
            var weight = PrefixHash.Weight(prefix, PrefixHash.Of(candidates[i].Engine.Id));
            if (i == 0 || weight > bestWeight)
            {
                best = i;
                bestWeight = weight;
            }

            minLoad = Math.Min(minLoad, EngineLoad.Weighted(candidates[i]));
        }

        var bound = (minLoad * _options.BoundedLoadFactor) + _options.BoundedLoadSlack;
        return EngineLoad.Weighted(candidates[best]) <= bound ? candidates[best].Engine : null;
    }

    private static bool Contains(IReadOnlyCollection<string> exclude, string id)
    {
        if (exclude.Count == 0)
        {
            return false;
        }

        foreach (var e in exclude)
        {
            if (string.Equals(e, id, StringComparison.Ordinal))
            {
                return true;
            }
        }

        return false;
    }

    /// <summary>Why the primary engines could not take a request: the most common cause names the fallback.</summary>
    private struct BlockCounts
    {
        public int Excluded;
        public int BreakerOpen;
        public int Draining;
        public int Unreachable;
        public int Pressure;

        public readonly string Reason
        {
            get
            {
                var (reason, max) = ("no_engine", 0);
                Consider(ref reason, ref max, "breaker_open", BreakerOpen);
                Consider(ref reason, ref max, "pressure", Pressure);
                Consider(ref reason, ref max, "draining", Draining);
                Consider(ref reason, ref max, "unreachable", Unreachable);
                Consider(ref reason, ref max, "excluded", Excluded);
                return reason;
            }
        }

        private static void Consider(ref string reason, ref int max, string name, int count)
        {
            if (count > max)
            {
                reason = name;
                max = count;
            }
        }
    }
}
