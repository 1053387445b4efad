using System.Collections.Concurrent;
using Platform.Fleet.State;

namespace Platform.Gateway.Admin;

/// <summary>
/// When this replica last applied a breaker change per engine (its own or one received from another replica), on
/// its own clock, taken in the <see cref="IFleetState.Changed"/> handler: the router reads the same local copy, so
/// this is the moment routing here started (or stopped) honouring the new state.
/// </summary>
internal sealed class FleetChangeTimes(IFleetState state, TimeProvider time) : IHostedService
{
    private readonly ConcurrentDictionary<string, DateTimeOffset> _breakerChanged = new(StringComparer.Ordinal);

    public DateTimeOffset? BreakerChangedAt(string engineId) => _breakerChanged.TryGetValue(engineId, out var at) ? at : null;

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
            _breakerChanged[change.EngineId] = time.GetUtcNow();
        }
    }
}
