using System.Diagnostics.Metrics;
using Microsoft.Extensions.Logging;
using Platform.Watchdog.Actions;
using Platform.Watchdog.Events;
using Platform.Watchdog.V1;

namespace Platform.Watchdog.Telemetry;

/// <summary>
/// Instruments of the watchdog (Meter <c>Platform.Watchdog</c>, names in README.md) and the log line of every event:
/// both hang on the event log, so nothing decided goes unseen.
/// </summary>
internal sealed partial class WatchdogMetrics : IDisposable
{
    public const string MeterName = "Platform.Watchdog";

    private readonly Meter _meter;
    private readonly Counter<long> _events;
    private readonly Histogram<double> _restartDuration;
    private readonly ILogger _logger;

    public WatchdogMetrics(EventLog events, EngineCoordinator coordinator, ILeadership leadership, TimeProvider timeProvider, ILogger<WatchdogMetrics> logger, IMeterFactory? meterFactory = null)
    {
        _logger = logger;
        _meter = meterFactory?.Create(MeterName) ?? new Meter(MeterName);
        _events = _meter.CreateCounter<long>("platform.watchdog.events", "{event}", "Watchdog events by kind (detected, drain_started, ..., escalated, failed), source (detector or operator) and pool.");
        _restartDuration = _meter.CreateHistogram<double>(
            "platform.watchdog.restart.duration",
            "s",
            "Time from marking an engine draining to undraining it after a successful restart, by pool.",
            advice: new InstrumentAdvice<double> { HistogramBucketBoundaries = [1, 2, 5, 10, 15, 20, 30, 45, 60, 120, 300, 600] });
        _meter.CreateObservableGauge("platform.watchdog.leader", () => leadership.IsLeader ? 1 : 0, "{state}", "1 while this replica holds the leader lease, else 0.");
        _meter.CreateObservableGauge("platform.watchdog.engine.state", () => coordinator.Status().Select(s => new Measurement<int>((int)s.State, new("engine", s.EngineId), new("pool", s.Pool))), "{state}", "Per engine: 0 serving, 1 draining, 2 restarting, 3 warming, 4 escalated.");
        _meter.CreateObservableGauge("platform.watchdog.engine.restarts_last_hour", () => coordinator.Status().Select(s => new Measurement<int>(s.RestartsLastHour, new("engine", s.EngineId), new("pool", s.Pool))), "{restart}", "Restarts of the engine in the last rolling hour (the restart budget's count).");
        _meter.CreateObservableGauge("platform.watchdog.view.age", () => coordinator.LastSnapshotAt is { } at ? (timeProvider.GetUtcNow() - at).TotalSeconds : double.NaN, "s", "Seconds since the last HealthScorer snapshot (the watchdog does not act on a stale view).");
        _meter.CreateObservableGauge("platform.watchdog.subscribers", () => events.SubscriberCount, "{subscriber}", "Open WatchEvents streams.");
        events.Recorded += OnEvent;
        coordinator.RestartCompleted += (pool, duration, succeeded) =>
        {
            if (succeeded)
            {
                _restartDuration.Record(duration.TotalSeconds, new KeyValuePair<string, object?>("pool", pool));
            }
        };
    }

    public static string KindTag(EventKind kind) => kind switch
    {
        EventKind.Detected => "detected",
        EventKind.DrainStarted => "drain_started",
        EventKind.DrainCompleted => "drain_completed",
        EventKind.RestartRequested => "restart_requested",
        EventKind.Recovered => "recovered",
        EventKind.Undrained => "undrained",
        EventKind.Deferred => "deferred",
        EventKind.Escalated => "escalated",
        EventKind.Failed => "failed",
        EventKind.Leadership => "leadership",
        _ => "unspecified",
    };

    public void Dispose() => _meter.Dispose();

    private void OnEvent(Event e)
    {
        _events.Add(1, new("kind", KindTag(e.Kind)), new("source", e.Source), new("pool", e.Pool));
        var level = e.Kind is EventKind.Escalated or EventKind.Failed ? LogLevel.Error
            : e.Kind is EventKind.Detected or EventKind.Deferred ? LogLevel.Warning
            : LogLevel.Information;
        LogEvent(_logger, level, e.Sequence, KindTag(e.Kind), e.EngineId, e.Source, e.Reason);
    }

    [LoggerMessage(EventId = 5100, Message = "Event {Sequence} {Kind} engine={Engine} source={Source}: {Reason}")]
    private static partial void LogEvent(ILogger logger, LogLevel level, ulong sequence, string kind, string engine, string source, string reason);
}
