using Platform.Fleet.State;

namespace Platform.Gateway.Health;

/// <summary>
/// The gateway's view of engine health: the HealthScorer's WatchFleet stream while it is live, else the gateway's own
/// scraper, else what the fleet state holds (published by another replica or the HealthScorer). Reads are lock-free.
/// </summary>
internal interface IEngineHealthView
{
    /// <summary>The freshest known entry, or null when nothing is known (the engine is then routable, neutral score).</summary>
    EngineHealthEntry? Get(string engineId);
}
