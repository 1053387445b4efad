namespace Platform.HealthScorer.Scoring;

/// <summary>
/// One pool's figures, aggregated over its engines' statuses. Speculative acceptance is Σ accepted / Σ draft tokens
/// of the engines' window deltas (and mean acceptance length 1 + Σ accepted / Σ drafts): a pool's rate weighs every
/// drafted token the same, where a mean of the engines' rates would let an idle engine count as much as a busy one.
/// </summary>
internal sealed record PoolStatus
{
    public required string Pool { get; init; }

    public required string Model { get; init; }

    /// <summary>Engines of the pool in the catalog.</summary>
    public int Engines { get; init; }

    /// <summary>Engines reachable and not stalled.</summary>
    public int HealthyEngines { get; init; }

    /// <summary>Σ draft tokens proposed over the window by the reachable engines whose window has the counters (0 when none).</summary>
    public double SpecDraftTokens { get; init; }

    public double SpecAcceptedTokens { get; init; }

    public double SpecDrafts { get; init; }

    /// <summary>Σ accepted / Σ draft tokens, [0, 1]; NaN when nothing was drafted in the window.</summary>
    public double SpecAcceptanceRate => SpecDraftTokens > 0 ? Math.Clamp(SpecAcceptedTokens / SpecDraftTokens, 0, 1) : double.NaN;

    /// <summary>1 + Σ accepted / Σ drafts (vLLM's mean acceptance length); NaN when nothing was drafted.</summary>
    public double SpecMeanAcceptanceLength => SpecDrafts > 0 ? 1 + (SpecAcceptedTokens / SpecDrafts) : double.NaN;

    /// <summary>
    /// One status per pool, in the order pools first appear in <paramref name="engines"/> (the catalog's order). Only
    /// reachable engines count towards the speculative sums: an unreachable engine's window is no longer current.
    /// </summary>
    public static PoolStatus[] Aggregate(IReadOnlyList<EngineStatus> engines)
    {
        var order = new List<string>();
        var pools = new Dictionary<string, PoolStatus>(StringComparer.Ordinal);
        foreach (var e in engines)
        {
            if (!pools.TryGetValue(e.Engine.Pool, out var pool))
            {
                order.Add(e.Engine.Pool);
                pool = new PoolStatus { Pool = e.Engine.Pool, Model = e.Engine.Model };
            }

            pool = pool with { Engines = pool.Engines + 1, HealthyEngines = pool.HealthyEngines + (e.Healthy ? 1 : 0) };

            // The three deltas come from one window; an engine missing any of them (no speculation, one point) adds none.
            if (e.Reachable && e.SpecDraftTokens >= 0 && e.SpecAcceptedTokens >= 0 && e.SpecDrafts >= 0)
            {
                pool = pool with
                {
                    SpecDraftTokens = pool.SpecDraftTokens + e.SpecDraftTokens,
                    SpecAcceptedTokens = pool.SpecAcceptedTokens + e.SpecAcceptedTokens,
                    SpecDrafts = pool.SpecDrafts + e.SpecDrafts,
                };
            }

            pools[e.Engine.Pool] = pool;
        }

        var result = new PoolStatus[order.Count];
        for (var i = 0; i < result.Length; i++)
        {
            result[i] = pools[order[i]];
        }

        return result;
    }
}
