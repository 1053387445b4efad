using Microsoft.Extensions.Options;
using Platform.Fleet.Catalog;

namespace Platform.Gateway.Routing;

/// <summary>
/// A candidate's cost: its expected wait in requests of the pool's fastest engine, the health score breaking ties.
/// </summary>
internal static class EngineLoad
{
    /// <summary>Requests on the engine: the gateway's in flight plus the engine's queue.</summary>
    public static double Of(in EngineCandidate c) => c.InFlight + c.Waiting;

    /// <summary>
    /// The load priced by latency: one more request waits for (load + 1) requests' worth of the engine's time, which
    /// is the latency factor times the fastest engine's; minus that request itself, so it equals <see cref="Of"/>
    /// when the engines are alike. An idle engine four times slower weighs as three requests on the fastest.
    /// </summary>
    public static double Weighted(in EngineCandidate c) => ((Of(c) + 1) * c.LatencyFactor) - 1;

    public static double Cost(in EngineCandidate c) => Weighted(c) + ((100.0 - c.HealthScore) / 100.0);
}

/// <summary>A seedable random source shared by the policies (thread-safe).</summary>
internal sealed class RoutingRandom(IOptions<RoutingOptions> options)
{
    // Read on first use: the options' validator resolves the policies, which must not read the options back.
    private readonly Lazy<Random?> _seeded = new(() => options.Value.Seed is { } seed ? new Random(seed) : null);

    public int Next(int maxExclusive)
    {
        var seeded = _seeded.Value;
        if (seeded is null)
        {
            return Random.Shared.Next(maxExclusive);
        }

        lock (seeded)
        {
            return seeded.Next(maxExclusive);
        }
    }
}

/// <summary>Two random candidates, the cheaper wins (the first drawn on a tie): near least-loaded quality without herding on one engine.</summary>
internal sealed class PowerOfTwoChoicesPolicy(RoutingRandom random) : IEngineSelectionPolicy
{
    public const string PolicyName = "power-of-two-choices";

    public string Name => PolicyName;

    public EngineInfo Pick(ReadOnlySpan<EngineCandidate> candidates, RoutingRequest request)
    {
        if (candidates.Length == 1)
        {
            return candidates[0].Engine;
        }

        var a = random.Next(candidates.Length);
        var b = random.Next(candidates.Length - 1);
        if (b >= a)
        {
            b++;
        }

        return EngineLoad.Cost(candidates[a]) <= EngineLoad.Cost(candidates[b]) ? candidates[a].Engine : candidates[b].Engine;
    }
}

/// <summary>The cheapest candidate (first on ties).</summary>
internal sealed class LeastLoadedPolicy : IEngineSelectionPolicy
{
    public const string PolicyName = "least-loaded";

    public string Name => PolicyName;

    public EngineInfo Pick(ReadOnlySpan<EngineCandidate> candidates, RoutingRequest request)
    {
        var best = 0;
        var bestCost = EngineLoad.Cost(candidates[0]);
        for (var i = 1; i < candidates.Length; i++)
        {
            var cost = EngineLoad.Cost(candidates[i]);
            if (cost < bestCost)
            {
                best = i;
                bestCost = cost;
            }
        }

        return candidates[best].Engine;
    }
}

/// <summary>Cycles over the candidates, blind to load: the baseline health-aware routing is measured against.</summary>
internal sealed class RoundRobinPolicy : IEngineSelectionPolicy
{
    public const string PolicyName = "round-robin";
    private int _next = -1;

    public string Name => PolicyName;

    public EngineInfo Pick(ReadOnlySpan<EngineCandidate> candidates, RoutingRequest request)
    {
        var n = (uint)Interlocked.Increment(ref _next);
        return candidates[(int)(n % (uint)candidates.Length)].Engine;
    }
}
