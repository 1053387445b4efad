using Platform.Fleet.State;
using Platform.HealthScorer.Scoring;

namespace Platform.HealthScorer.Publishing;

/// <summary>
/// Writes engine health into the shared fleet state (<see cref="IFleetState.PublishHealthAsync"/>: Redis keys with a
/// TTL and one pub/sub message each), so every gateway replica has it even without a WatchFleet stream, and a dead
/// HealthScorer's entries expire instead of freezing the fleet. Reachable there means routable: reachable and not
/// stalled, as the gateway reads the WatchFleet stream.
/// </summary>
internal sealed class FleetHealthPublisher(IFleetState fleetState, TimeProvider timeProvider)
{
    public ValueTask PublishAsync(IReadOnlyList<EngineStatus> statuses, CancellationToken cancellationToken)
    {
        var now = timeProvider.GetUtcNow();
        var entries = new EngineHealthEntry[statuses.Count];
        for (var i = 0; i < entries.Length; i++)
        {
            entries[i] = ToEntry(statuses[i], now);
        }

        return fleetState.PublishHealthAsync(entries, cancellationToken);
    }

    internal static EngineHealthEntry ToEntry(EngineStatus s, DateTimeOffset now) => new(
        s.Engine.Id,
        s.Score,
        s.Pressure,
        s.Healthy,
        s.KvCacheUsage,
        s.Running,
        s.Waiting,
        s.TtftP95Seconds,
        now);
}
