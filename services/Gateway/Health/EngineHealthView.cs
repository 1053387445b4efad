using System.Collections.Concurrent;
using Microsoft.Extensions.Options;
using Platform.Fleet.State;

namespace Platform.Gateway.Health;

/// <summary>Where the gateway's local entries come from.</summary>
internal enum HealthSource
{
    /// <summary>The HealthScorer's WatchFleet stream.</summary>
    HealthScorer,

    /// <summary>The gateway's own scraper.</summary>
    Scraper,
}

/// <summary>
/// Local entries (HealthScorer stream or own scraper), fresh for <see cref="HealthOptions.StaleAfter"/>; beyond that
/// the fleet state's entry. Writers replace whole immutable entries, so readers never lock. When a local entry says an
/// engine recovered (pressure closed, reachable again), <see cref="Recovered"/> tells the latency tracker, which forgets
/// what it measured meanwhile.
/// </summary>
internal sealed class EngineHealthView(IFleetState fleetState, IOptions<HealthOptions> options, TimeProvider timeProvider) : IEngineHealthView
{
    /// <summary>An engine recovered: its id and why ("KV-cache pressure cleared", "reachable again").</summary>
    public event Action<string, string>? Recovered;

    private readonly ConcurrentDictionary<string, EngineHealthEntry> _entries = new(StringComparer.Ordinal);
    private long _lastScorerSnapshotTicks = long.MinValue;

    /// <summary>True while the HealthScorer stream delivered a snapshot recently: the scraper then stands by.</summary>
    public bool HealthScorerLive(TimeSpan staleAfter)
    {
        var last = Interlocked.Read(ref _lastScorerSnapshotTicks);
        return last != long.MinValue && timeProvider.GetUtcNow().UtcTicks - last <= staleAfter.Ticks;
    }

    public EngineHealthEntry? Get(string engineId)
    {
        if (_entries.TryGetValue(engineId, out var entry) && timeProvider.GetUtcNow() - entry.ObservedAt <= options.Value.StaleAfter)
        {
            return entry;
        }

        return fleetState.GetHealth(engineId);
    }

    /// <summary>The local entry, fresh or not (the scraper's hysteresis starts from it).</summary>
    public EngineHealthEntry? GetLocal(string engineId) => _entries.TryGetValue(engineId, out var e) ? e : null;

    public void Update(EngineHealthEntry entry, HealthSource source)
    {
        _entries.TryGetValue(entry.EngineId, out var previous);
        _entries[entry.EngineId] = entry;
        if (previous is not null && entry.Reachable && entry.Pressure == PressureState.Normal)
        {
            if (!previous.Reachable)
            {
                Recovered?.Invoke(entry.EngineId, "reachable again");
            }
            else if (previous.Pressure == PressureState.UnderPressure)
            {
                Recovered?.Invoke(entry.EngineId, "KV-cache pressure cleared");
            }
        }

        if (source == HealthSource.HealthScorer)
        {
            Interlocked.Exchange(ref _lastScorerSnapshotTicks, timeProvider.GetUtcNow().UtcTicks);
        }
    }
}
