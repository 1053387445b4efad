using Microsoft.Extensions.Logging;
using Platform.Fleet.State;
using Platform.Gateway.Pipeline;

namespace Platform.Gateway.Breakers;

/// <summary>
/// Records attempt outcomes against engines' breakers without holding up the stream (the write goes to Redis), and
/// turns every breaker change this replica sees (its own or another replica's) into a log line and a metric.
/// </summary>
internal sealed partial class BreakerRecorder : IDisposable
{
    private readonly IFleetState _fleetState;
    private readonly EngineSideMetrics _metrics;
    private readonly ILogger<BreakerRecorder> _logger;
    private readonly Dictionary<string, BreakerState> _known = new(StringComparer.Ordinal);

    public BreakerRecorder(IFleetState fleetState, EngineSideMetrics metrics, ILogger<BreakerRecorder> logger)
    {
        _fleetState = fleetState;
        _metrics = metrics;
        _logger = logger;
        _fleetState.Changed += OnChanged;
    }

    /// <summary>Counts an outcome; never throws, never waits.</summary>
    public void Record(string engineId, EngineOutcome outcome, string? reason)
    {
        if (outcome == EngineOutcome.Ignored)
        {
            return;
        }

        _ = RecordAsync(engineId, outcome, reason);
    }

    public void Dispose() => _fleetState.Changed -= OnChanged;

    private async Task RecordAsync(string engineId, EngineOutcome outcome, string? reason)
    {
        try
        {
            var snapshot = await _fleetState.RecordOutcomeAsync(engineId, outcome, reason, CancellationToken.None).ConfigureAwait(false);
            Observe(engineId, snapshot);
        }
        catch (Exception ex)
        {
            LogRecordFailed(_logger, engineId, ex);
        }
    }

    private void OnChanged(FleetChange change)
    {
        if (change.Kind == FleetChangeKind.Breaker)
        {
            Observe(change.EngineId, _fleetState.GetBreaker(change.EngineId));
        }
    }

    /// <summary>Logs and counts a state this replica has not seen for the engine yet.</summary>
    public void Observe(string engineId, BreakerSnapshot snapshot)
    {
        BreakerState previous;
        lock (_known)
        {
            previous = _known.GetValueOrDefault(engineId, BreakerState.Closed);
            if (previous == snapshot.State)
            {
                return;
            }

            _known[engineId] = snapshot.State;
        }

        _metrics.BreakerTransition(engineId, previous, snapshot.State);
        LogTransition(_logger, engineId, previous, snapshot.State, snapshot.Reason ?? "none", snapshot.ConsecutiveFailures);
    }

    [LoggerMessage(EventId = 3301, Level = LogLevel.Warning, Message = "Breaker of engine {EngineId}: {From} -> {To} (reason {Reason}, consecutive failures {Failures})")]
    private static partial void LogTransition(ILogger logger, string engineId, BreakerState from, BreakerState to, string reason, int failures);

    [LoggerMessage(EventId = 3302, Level = LogLevel.Warning, Message = "Recording an outcome for engine {EngineId} failed")]
    private static partial void LogRecordFailed(ILogger logger, string engineId, Exception exception);
}
