using System.Collections.Concurrent;
using Platform.Fleet.State;

namespace Platform.Gateway.Admin;

/// <summary>
/// When this replica applied the latest breaker change per engine (its own or one received from another replica):
/// the fleet state's time of the change (<see cref="FleetChange.At"/>, taken where the new record is put in place,
/// so later handlers of the event do not delay it), with the version it produced. The router reads the same local
/// copy, so this is when routing here began honouring the change.
/// </summary>
internal sealed class FleetChangeTimes(IFleetState state) : IHostedService
{
    private readonly ConcurrentDictionary<string, (long Version, DateTimeOffset At)> _breakerChanged = new(StringComparer.Ordinal);

    /// <summary>When the change that produced <paramref name="version"/> was applied; null if not known (yet).</summary>
    public DateTimeOffset? BreakerChangedAt(string engineId, long version) =>
        _breakerChanged.TryGetValue(engineId, out var changed) && changed.Version == version ? changed.At : null;

    public Task StartAsync(CancellationToken cancellationToken)
    {
        state.Changed += OnChanged;
        return Task.CompletedTask;
    }

    public Task StopAsync(CancellationToken cancellationToken)
    {
        state.Changed -= OnChanged;
        return Task.CompletedTask;
    }

    private void OnChanged(FleetChange change)
    {
        if (change.Kind == FleetChangeKind.Breaker)
        {
            _breakerChanged[change.EngineId] = (state.GetBreaker(change.EngineId).Version, change.At);
        }
    }
}
