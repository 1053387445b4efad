namespace Platform.Fleet.State;

/// <summary>The failure breaker of one engine.</summary>
public enum BreakerState
{
    /// <summary>Traffic flows; failures are counted.</summary>
    Closed,

    /// <summary>No traffic until the cool-down ends.</summary>
    Open,

    /// <summary>Cool-down over: exactly one gateway replica (the probe-lease holder) sends a real probe.</summary>
    HalfOpen,
}

/// <summary>A breaker as every replica sees it. <see cref="Version"/> increases with every transition.</summary>
public sealed record BreakerSnapshot(
    string EngineId,
    BreakerState State,
    int ConsecutiveFailures,
    DateTimeOffset? OpenedAt,
    DateTimeOffset? RetryAt,
    string? Reason,
    long Version)
{
    public static BreakerSnapshot Closed(string engineId) => new(engineId, BreakerState.Closed, 0, null, null, null, 0);
}

/// <summary>Memory-pressure state of an engine, with hysteresis, published by the health view.</summary>
public enum PressureState
{
    Normal,
    UnderPressure,
}

/// <summary>What the fleet knows about an engine's health (written by the HealthScorer, or by a gateway's own view).</summary>
public sealed record EngineHealthEntry(
    string EngineId,
    double Score,
    PressureState Pressure,
    bool Reachable,
    double KvCacheUsage,
    double Running,
    double Waiting,
    double TtftP95Seconds,
    DateTimeOffset ObservedAt);

/// <summary>Why a request to an engine ended, as far as the engine's breaker is concerned.</summary>
public enum EngineOutcome
{
    /// <summary>The engine served the request (or answered a 4xx the request earned).</summary>
    Success,

    /// <summary>Connection refused/reset, 5xx, time-to-first-token or idle timeout, broken stream.</summary>
    Failure,

    /// <summary>The client cancelled: never counted against the engine.</summary>
    Ignored,
}

/// <summary>
/// Shared fleet state: breakers, drains and health per engine, kept in Redis under one key prefix, every change
/// published on one pub/sub channel and applied by every replica within milliseconds. Each replica keeps a local
/// copy, reconciles it periodically, and keeps serving on it when Redis is unreachable (transitions are then made
/// locally and re-synced when Redis returns). Reads are local and lock-free (the hot path calls them per request).
/// </summary>
public interface IFleetState
{
    /// <summary>True while the last Redis operation succeeded.</summary>
    bool RedisAvailable { get; }

    BreakerSnapshot GetBreaker(string engineId);

    bool IsDraining(string engineId);

    /// <summary>The latest health entry, or null when none is known or it expired (TTL).</summary>
    EngineHealthEntry? GetHealth(string engineId);

    /// <summary>Counts an outcome against the engine's breaker; may open it (atomic in Redis).</summary>
    ValueTask<BreakerSnapshot> RecordOutcomeAsync(string engineId, EngineOutcome outcome, string? reason, CancellationToken cancellationToken);

    /// <summary>
    /// For a half-open breaker: takes the probe lease if no replica holds it. Exactly one replica gets true until
    /// the lease expires or is released by <see cref="CompleteProbeAsync"/>.
    /// </summary>
    ValueTask<bool> TryAcquireProbeLeaseAsync(string engineId, CancellationToken cancellationToken);

    /// <summary>Ends a probe: success closes the breaker, failure re-opens it with a longer cool-down.</summary>
    ValueTask<BreakerSnapshot> CompleteProbeAsync(string engineId, bool success, string? reason, CancellationToken cancellationToken);

    /// <summary>Marks an engine draining (no new requests) or not; used by the Watchdog and operators.</summary>
    ValueTask SetDrainingAsync(string engineId, bool draining, string? reason, CancellationToken cancellationToken);

    /// <summary>Publishes health entries (HealthScorer, or a gateway's own scraper); stored with a TTL.</summary>
    ValueTask PublishHealthAsync(IReadOnlyList<EngineHealthEntry> entries, CancellationToken cancellationToken);

    /// <summary>Raised on the replica's own changes and on every change received from other replicas.</summary>
    event Action<FleetChange>? Changed;
}

/// <summary>A change to the fleet state, as published on the channel.</summary>
public sealed record FleetChange(FleetChangeKind Kind, string EngineId, DateTimeOffset At, string? Origin);

public enum FleetChangeKind
{
    Breaker,
    Drain,
    Health,
}
