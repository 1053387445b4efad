using System.Globalization;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Platform.Fleet.Catalog;
using Platform.Fleet.State;
using Platform.Watchdog.Detection;
using Platform.Watchdog.Events;
using Platform.Watchdog.Orchestrators;
using Platform.Watchdog.Probing;
using Platform.Watchdog.V1;

namespace Platform.Watchdog.Actions;

/// <summary>Where an engine is in the watchdog's procedure.</summary>
internal enum EngineActionState
{
    Serving,
    Draining,
    Restarting,
    Warming,

    /// <summary>Restart budget spent: no automatic action until an operator acts or the engine recovers on its own.</summary>
    Escalated,
}

/// <summary>Why an operator action was refused.</summary>
internal enum OperatorRefusal
{
    None,
    UnknownEngine,
    NotLeader,
    DisruptionBudget,
    Busy,

    /// <summary>The leader has not read the persisted restart state yet (Redis unreachable): no action meanwhile.</summary>
    StateUnavailable,
}

internal readonly record struct OperatorResult(Event? Event, OperatorRefusal Refusal, string Detail)
{
    public static OperatorResult Refused(OperatorRefusal refusal, string detail) => new(null, refusal, detail);
}

/// <summary>One engine's status for GetStatus.</summary>
internal sealed record EngineStatusView(string EngineId, string Pool, EngineActionState State, int RestartsLastHour, DateTimeOffset? NotBefore, bool Draining);

/// <summary>
/// The watchdog's decisions. Every snapshot from the HealthScorer goes into each engine's history and runs the detectors;
/// on the leader only, and only on a fresh view, a detection becomes an action within the budgets:
/// <code>
/// Serving --detected--> [deep probe if asked] --> restart budget spent?  --> Escalated (event, no restart loop)
///                                             --> back-off running?      --> Deferred (event once)
///                                             --> disruption budget?     --> Deferred (event once)
///                                             --> Draining: drain flag in Redis (gateways stop within a second),
///                                                 wait for in-flight requests while they make progress (bounded)
///                                             --> Restarting: the orchestrator restarts it on the same endpoint
///                                             --> Warming: /health 200 and one generated token
///                                             --> undrain --> Serving (history cleared, back-off starts)
/// </code>
/// A failed restart or warm-up leaves the engine drained; it is undrained once it is healthy and warm again, or
/// restarted again after its back-off. All state is guarded by one lock; the slow steps run outside it.
/// <para>
/// What the next leader needs (restarts of the last hour, the procedure's step, who drained the engine) is written to
/// <see cref="IRestartStateStore"/> (Redis) at every change, and read when this replica becomes leader: until it has
/// been read the leader does nothing, and a restart that cannot be recorded first is not made, so a failover never
/// forgets a back-off or a budget, and never restarts an engine whose restart is still under way.
/// </para>
/// </summary>
internal sealed partial class EngineCoordinator : IDisposable
{
    private readonly Lock _lock = new();
    private readonly Dictionary<string, EngineRecord> _engines = new(StringComparer.Ordinal);
    private readonly IFleetCatalog _catalog;
    private readonly IFleetState _fleetState;
    private readonly IEngineProbe _probe;
    private readonly IEngineRestarter _restarter;
    private readonly EventLog _events;
    private readonly ILeadership _leadership;
    private readonly IReadOnlyList<IDegradationDetector> _detectors;
    private readonly WatchdogOptions _options;
    private readonly BudgetOptions _budget;
    private readonly HungDetectorOptions _hung;
    private readonly IdleProbeOptions _idle;
    private readonly TimeProvider _time;
    private readonly ILogger _logger;
    private readonly CancellationTokenSource _stopping = new();
    private readonly TimeSpan _historyKeep;
    private readonly IRestartStateStore _stateStore;
    private readonly SemaphoreSlim _persistGate = new(1, 1);
    private DateTimeOffset? _lastSnapshotAt;
    private bool _staleLogged;

    // The persisted restart state: read once per leadership (the generation tells a stale read from the current one).
    private bool _stateLoaded;
    private int _loadGeneration;
    private Task? _loading;
    private bool _stateUnwritable;
    private readonly List<Task> _writes = [];
    private int _disposed;

    public EngineCoordinator(
        IFleetCatalog catalog,
        IFleetState fleetState,
        IEngineProbe probe,
        IEngineRestarter restarter,
        EventLog events,
        ILeadership leadership,
        IEnumerable<IDegradationDetector> detectors,
        IOptions<WatchdogOptions> options,
        IOptions<BudgetOptions> budget,
        IOptions<HungDetectorOptions> hung,
        TimeProvider timeProvider,
        ILogger<EngineCoordinator> logger,
        IRestartStateStore? stateStore = null,
        IOptions<IdleProbeOptions>? idleProbe = null)
    {
        _catalog = catalog;
        _fleetState = fleetState;
        _probe = probe;
        _restarter = restarter;
        _events = events;
        _leadership = leadership;
        _detectors = detectors.Where(d => d.Enabled).ToList();
        _options = options.Value;
        _budget = budget.Value;
        _hung = hung.Value;
        _time = timeProvider;
        _logger = logger;
        _idle = idleProbe?.Value ?? new IdleProbeOptions { Enabled = false };
        _historyKeep = _detectors.Select(d => d.Window).Append(_idle.Enabled ? _idle.IdleFor : TimeSpan.Zero).Max() + TimeSpan.FromSeconds(5);
        _stateStore = stateStore ?? new InMemoryRestartStateStore();
        _stateLoaded = !_stateStore.Shared;
        foreach (var engine in catalog.Engines)
        {
            _engines[engine.Id] = new EngineRecord(engine, timeProvider);
        }
    }

    /// <summary>Names of the detectors in force, in the order they are asked.</summary>
    public IReadOnlyList<string> DetectorNames => _detectors.Select(d => d.Name).ToList();

    /// <summary>Completes once no probe or procedure runs, including those started by others that ended (tests wait on it).</summary>
    public Task Idle => WaitIdleAsync();

    private async Task WaitIdleAsync()
    {
        while (true)
        {
            Task[] running;
            lock (_lock)
            {
                running = _engines.Values.Select(r => r.Work).Append(_loading).Concat(_writes).Where(t => t is { IsCompleted: false }).ToArray()!;
            }

            if (running.Length == 0)
            {
                return;
            }

            await Task.WhenAll(running).ConfigureAwait(false);
        }
    }

    public DateTimeOffset? LastSnapshotAt
    {
        get
        {
            lock (_lock)
            {
                return _lastSnapshotAt;
            }
        }
    }

    /// <summary>A snapshot from the HealthScorer arrived: record it, then decide.</summary>
    public void OnSnapshot(IReadOnlyList<EngineObservation> observations)
    {
        lock (_lock)
        {
            _lastSnapshotAt = _time.GetUtcNow();
            foreach (var o in observations)
            {
                // A reading from a scrape made before the engine's process was restarted describes the old process: until
                // the HealthScorer has scraped the new one it repeats its last view (a CI run saw the old process's
                // "stalled" flag detected again, and deferred, at the moment the new one was undrained).
                if (_engines.TryGetValue(o.EngineId, out var record) && !(o.ScrapedAt <= record.ScrapedBeforeRestart))
                {
                    record.History.Add(o, _historyKeep);
                }
            }
        }

        Evaluate();
    }

    /// <summary>Runs the detectors on every engine that is not being acted on, and acts within the budgets (leader only).</summary>
    public void Evaluate()
    {
        if (!_leadership.IsLeader || !EnsureStateLoaded())
        {
            return;
        }

        var now = _time.GetUtcNow();
        lock (_lock)
        {
            if (_lastSnapshotAt is not { } last || now - last > _options.StaleViewAfter)
            {
                if (!_staleLogged)
                {
                    _staleLogged = true;
                    LogStaleView(_logger, _options.StaleViewAfter.TotalSeconds);
                }

                return;
            }

            _staleLogged = false;
            foreach (var record in _engines.Values)
            {
                if (record.PersistPending)
                {
                    PersistLater(record);
                }

                if (record.Work is { IsCompleted: false })
                {
                    continue;
                }

                var detection = Detect(record, now);
                if (detection is null)
                {
                    ClearEpisode(record);
                    if (record.WatchdogDrained && !record.OperatorDrained && record.State == EngineActionState.Serving
                        && record.History.Latest is { Routable: true })
                    {
                        // Left drained by a failed restart or warm-up, and healthy again: warm it and let traffic back.
                        record.Work = Task.Run(() => RecoverAsync(record, _stopping.Token));
                        continue;
                    }

                    if (IdleProbeDue(record, now))
                    {
                        record.LastIdleProbeAt = now;
                        record.IdleProbing = true;
                        record.Work = Task.Run(() => IdleProbeAsync(record, _stopping.Token));
                    }

                    continue;
                }

                if (detection.NeedsDeepProbe)
                {
                    if (record.LastProbePassedAt is { } passed && now - passed < _hung.ProbeTimeout * 2)
                    {
                        continue;
                    }

                    if (!CouldAct(record, now))
                    {
                        // No action could follow (escalated, operator-drained, back-off or budget): say so without
                        // sending probe after probe into an engine that may hold each one for the whole timeout.
                        Decide(record, detection.Detector, detection.Reason + " (not probed: no action is possible now)", now);
                        continue;
                    }

                    record.Work = Task.Run(() => ConfirmAsync(record, detection, _stopping.Token));
                    continue;
                }

                Detected(record, detection);
                Decide(record, detection.Detector, detection.Reason, now);
            }
        }
    }

    public IReadOnlyList<EngineStatusView> Status()
    {
        var now = _time.GetUtcNow();
        lock (_lock)
        {
            return _engines.Values.Select(r => new EngineStatusView(
                r.Engine.Id,
                r.Engine.Pool,
                r.State,
                r.Ledger.CountLastHour(now),
                Later(r.Ledger.NotBefore(now, _budget), r.AdoptedUntil > now ? r.AdoptedUntil : null),
                r.WatchdogDrained || r.OperatorDrained)).ToList();
        }
    }

    public bool IsKnown(string engineId) => _engines.ContainsKey(engineId);

    /// <summary>Operator drain: no new requests; in-flight ones finish. Idempotent.</summary>
    public async Task<OperatorResult> DrainAsync(string engineId, string reason, bool force, CancellationToken cancellationToken)
    {
        if (Precheck(engineId) is { } refused)
        {
            return refused;
        }

        Event e;
        var record = _engines[engineId];
        lock (_lock)
        {
            if (record.OperatorDrained || record.State is EngineActionState.Draining or EngineActionState.Restarting or EngineActionState.Warming)
            {
                return new OperatorResult(_events.LastOf(engineId), OperatorRefusal.None, "already draining");
            }

            if (!force && CheckDisruption(record) is { } budget)
            {
                return OperatorResult.Refused(OperatorRefusal.DisruptionBudget, budget + " (force overrides)");
            }

            record.OperatorDrained = true;
            e = Record(EventKind.DrainStarted, record, "operator", reason);
        }

        PersistLater(record);

        await _fleetState.SetDrainingAsync(engineId, true, "operator: " + reason, cancellationToken).ConfigureAwait(false);
        return new OperatorResult(e, OperatorRefusal.None, "");
    }

    /// <summary>Operator undrain: the engine takes new requests again; also clears an escalation.</summary>
    public async Task<OperatorResult> UndrainAsync(string engineId, string reason, CancellationToken cancellationToken)
    {
        if (Precheck(engineId) is { } refused)
        {
            return refused;
        }

        Event e;
        var record = _engines[engineId];
        lock (_lock)
        {
            if (record.State is EngineActionState.Draining or EngineActionState.Restarting or EngineActionState.Warming)
            {
                return OperatorResult.Refused(OperatorRefusal.Busy, $"a restart of {engineId} is in progress ({record.State}); it undrains the engine when it ends");
            }

            record.OperatorDrained = false;
            record.WatchdogDrained = false;
            record.State = EngineActionState.Serving;
            record.AdoptedUntil = null;
            ClearEpisode(record);
            e = Record(EventKind.Undrained, record, "operator", reason);
        }

        PersistLater(record);

        await _fleetState.SetDrainingAsync(engineId, false, "operator: " + reason, cancellationToken).ConfigureAwait(false);
        return new OperatorResult(e, OperatorRefusal.None, "");
    }

    /// <summary>Operator restart: the whole procedure, started now; progress arrives as events. Idempotent while running.</summary>
    public OperatorResult Restart(string engineId, string reason, bool force)
    {
        if (Precheck(engineId) is { } refused)
        {
            return refused;
        }

        var record = _engines[engineId];
        lock (_lock)
        {
            if (record.State is EngineActionState.Draining or EngineActionState.Restarting or EngineActionState.Warming)
            {
                return new OperatorResult(_events.LastOf(engineId), OperatorRefusal.None, "already restarting");
            }

            if (record.Work is { IsCompleted: false } && !record.IdleProbing)
            {
                // An idle probe does not hold an operator back: its answer is dropped once the restart began.
                return OperatorResult.Refused(OperatorRefusal.Busy, $"{engineId} is being probed or warmed; try again in a moment");
            }

            if (!force && CheckDisruption(record) is { } budget)
            {
                return OperatorResult.Refused(OperatorRefusal.DisruptionBudget, budget + " (force overrides)");
            }

            return new OperatorResult(BeginRestart(record, "operator", reason), OperatorRefusal.None, "");
        }
    }

    /// <summary>
    /// Leadership changed (the election raises it): an event either way. A new leader reads the persisted restart
    /// state before it acts; a follower forgets that it had read it (another leader may change it meanwhile).
    /// </summary>
    public void OnLeadershipChanged(bool leader, string reason)
    {
        _events.Record(EventKind.Leadership, "", "", leader ? "leader" : "follower", reason);
        if (!_stateStore.Shared)
        {
            return;
        }

        lock (_lock)
        {
            _stateLoaded = false;
            _loadGeneration++;
            _loading = null;
        }

        if (leader)
        {
            EnsureStateLoaded();
        }
    }

    /// <summary>True once the persisted state was read in this leadership; otherwise starts reading it (once at a time).</summary>
    private bool EnsureStateLoaded()
    {
        lock (_lock)
        {
            if (_stateLoaded)
            {
                return true;
            }

            if (_loading is not { IsCompleted: false })
            {
                var generation = _loadGeneration;
                _loading = Task.Run(() => LoadStateAsync(generation, _stopping.Token));
            }

            return false;
        }
    }

    private async Task LoadStateAsync(int generation, CancellationToken cancellationToken)
    {
        IReadOnlyDictionary<string, PersistedEngineState> states;
        try
        {
            states = await _stateStore.LoadAsync(_engines.Keys.ToList(), cancellationToken).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is not OperationCanceledException || !cancellationToken.IsCancellationRequested)
        {
            LogStateUnreadable(_logger, ex.GetType().Name);
            return;
        }
        catch (OperationCanceledException)
        {
            return;
        }

        int withRestarts = 0, adopted = 0, drained = 0, escalated = 0;
        lock (_lock)
        {
            if (generation != _loadGeneration)
            {
                return;
            }

            var now = _time.GetUtcNow();
            foreach (var (id, state) in states)
            {
                if (!_engines.TryGetValue(id, out var record) || record.Work is { IsCompleted: false })
                {
                    continue;
                }

                record.Ledger.Merge(state.Restarts);
                record.OperatorDrained = state.OperatorDrained;
                record.WatchdogDrained = state.WatchdogDrained || state.State is EngineActionState.Draining or EngineActionState.Restarting or EngineActionState.Warming;
                record.State = state.State == EngineActionState.Escalated ? EngineActionState.Escalated : EngineActionState.Serving;
                record.AdoptedUntil = null;
                if (state.State is EngineActionState.Restarting or EngineActionState.Warming
                    && state.StateSince + _options.RestartTimeout + _options.RecoveryTimeout is var until && until > now)
                {
                    // The previous leader asked the orchestrator for a restart that may still be under way: no second
                    // one while it can still succeed; the recovery path undrains the engine once it is healthy and warm.
                    record.AdoptedUntil = until;
                    record.AdoptedFrom = state.By;
                    adopted++;
                }

                withRestarts += record.Ledger.CountLastHour(now) > 0 ? 1 : 0;
                drained += record.WatchdogDrained || record.OperatorDrained ? 1 : 0;
                escalated += record.State == EngineActionState.Escalated ? 1 : 0;
            }

            _stateLoaded = true;
        }

        _events.Record(EventKind.Leadership, "", "", "leader", string.Create(CultureInfo.InvariantCulture,
            $"restart state read: {states.Count} engine(s) on record, {withRestarts} with restarts in the last hour, {drained} drained, {escalated} escalated, {adopted} mid-restart under the previous leader"));
    }

    /// <summary>Writes the engine's state for the next leader now; null when written, else why not.</summary>
    private async Task<string?> PersistAsync(EngineRecord record, CancellationToken cancellationToken)
    {
        await _persistGate.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            // Taken inside the gate: the last write always carries the latest state.
            PersistedEngineState state;
            lock (_lock)
            {
                var now = _time.GetUtcNow();
                state = new PersistedEngineState(record.Ledger.Restarts(now), record.State, record.StateSince, record.WatchdogDrained, record.OperatorDrained, _leadership.ReplicaId);
                record.PersistPending = false;
            }

            string? error;
            try
            {
                error = await _stateStore.SaveAsync(record.Engine.Id, state, _leadership.ReplicaId, cancellationToken).ConfigureAwait(false)
                    ? null
                    : "this replica no longer holds the leader lease";
            }
            catch (Exception ex) when (ex is not OperationCanceledException || !cancellationToken.IsCancellationRequested)
            {
                error = "the store is unreachable (" + ex.GetType().Name + ")";
            }

            lock (_lock)
            {
                _stateUnwritable = error is not null;
                record.PersistPending |= error is not null;
            }

            if (error is not null)
            {
                LogStateNotSaved(_logger, record.Engine.Id, error);
            }

            return error;
        }
        finally
        {
            _persistGate.Release();
        }
    }

    /// <summary>Writes the engine's state in the background (retried at the next evaluation when it fails).</summary>
    private void PersistLater(EngineRecord record)
    {
        if (!_stateStore.Shared && !_leadership.IsLeader)
        {
            return;
        }

        var token = _stopping.Token;
        var write = Task.Run(async () =>
        {
            try
            {
                await PersistAsync(record, token).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
            }
        }, CancellationToken.None);
        lock (_lock)
        {
            _writes.RemoveAll(t => t.IsCompleted);
            _writes.Add(write);
        }
    }

    private static DateTimeOffset? Later(DateTimeOffset? a, DateTimeOffset? b) =>
        a is null ? b : b is null ? a : a > b ? a : b;

    public void Dispose()
    {
        if (Interlocked.Exchange(ref _disposed, 1) == 0)
        {
            _stopping.Cancel();
            _stopping.Dispose();
        }
    }

    private OperatorResult? Precheck(string engineId)
    {
        if (!_engines.ContainsKey(engineId))
        {
            return OperatorResult.Refused(OperatorRefusal.UnknownEngine, $"no engine '{engineId}' in the catalog");
        }

        if (!_leadership.IsLeader)
        {
            return OperatorResult.Refused(OperatorRefusal.NotLeader, $"this replica is not the leader (leader: {_leadership.Holder ?? "unknown"}); retry against the leader");
        }

        return EnsureStateLoaded()
            ? null
            : OperatorResult.Refused(OperatorRefusal.StateUnavailable, "this replica just became leader and has not read the restart state from Redis yet; retry in a moment");
    }

    private Detection.Detection? Detect(EngineRecord record, DateTimeOffset now)
    {
        foreach (var detector in _detectors)
        {
            if (detector.Evaluate(record.History, now) is { } found)
            {
                return found;
            }
        }

        return null;
    }

    /// <summary>Under the lock: the detection episode of an engine ended (it looks fine).</summary>
    private void ClearEpisode(EngineRecord record)
    {
        record.LastDetection = null;
        record.LastDeferral = null;
        if (record.State == EngineActionState.Escalated && record.History.Latest is { Routable: true })
        {
            record.State = EngineActionState.Serving;
            PersistLater(record);
        }
    }

    /// <summary>Under the lock: a DETECTED event once per detector per episode.</summary>
    private void Detected(EngineRecord record, Detection.Detection detection)
    {
        if (record.LastDetection != detection.Detector)
        {
            record.LastDetection = detection.Detector;
            Record(EventKind.Detected, record, detection.Detector, detection.Reason);
        }
    }

    /// <summary>Under the lock: act on a detection within the budgets, or say why not.</summary>
    private void Decide(EngineRecord record, string source, string reason, DateTimeOffset now)
    {
        if (record.State == EngineActionState.Escalated || record.OperatorDrained)
        {
            return;
        }

        if (record.Ledger.BudgetSpent(now, _budget))
        {
            record.State = EngineActionState.Escalated;
            Record(EventKind.Escalated, record, source, string.Create(CultureInfo.InvariantCulture,
                $"restart budget spent: {record.Ledger.CountLastHour(now)} restarts in the last hour (at most {_budget.MaxRestartsPerHour}); an operator must look. Detected: {reason}"));
            PersistLater(record);
            return;
        }

        if (record.AdoptedUntil is { } adopted && adopted > now)
        {
            Defer(record, source, "adopted", string.Create(CultureInfo.InvariantCulture,
                $"the previous leader ({record.AdoptedFrom}) had a restart of it under way; no automatic action before {adopted:HH:mm:ss.fff} UTC, so it is not restarted twice"));
            return;
        }

        if (record.Ledger.NotBefore(now, _budget) is { } notBefore)
        {
            Defer(record, source, "backoff", string.Create(CultureInfo.InvariantCulture,
                $"back-off: no automatic restart before {notBefore:HH:mm:ss.fff} UTC ({record.Ledger.CountLastHour(now)} restart(s) in the last hour)"));
            return;
        }

        if (CheckDisruption(record) is { } refusal)
        {
            Defer(record, source, "budget", refusal);
            return;
        }

        if (_stateUnwritable)
        {
            Defer(record, source, "state", "the restart state cannot be written to Redis: no restart the next leader could not see (retried at every evaluation)");
            return;
        }

        BeginRestart(record, source, reason);
    }

    /// <summary>Under the lock: whether <see cref="Decide"/> would start a restart now.</summary>
    private bool CouldAct(EngineRecord record, DateTimeOffset now, bool disruption = true) =>
        record.State != EngineActionState.Escalated && !record.OperatorDrained && !record.Ledger.BudgetSpent(now, _budget)
        && record.Ledger.NotBefore(now, _budget) is null && !(record.AdoptedUntil > now) && !_stateUnwritable
        && (!disruption || CheckDisruption(record) is null);

    /// <summary>
    /// Under the lock: an idle probe of the engine is due. It serves (reachable, not stalled, not drained), generated
    /// no token at any observation for <see cref="IdleProbeOptions.IdleFor"/>, its last idle probe is older than the
    /// interval (the retry interval after a failure), fewer than the fleet-wide maximum run, and an action could follow
    /// (the disruption budget aside: an engine that fails its probes serves nothing, and is judged so).
    /// </summary>
    private bool IdleProbeDue(EngineRecord record, DateTimeOffset now)
    {
        if (!_idle.Enabled || record.WatchdogDrained || record.OperatorDrained || record.State != EngineActionState.Serving
            || record.History.Latest is not { Routable: true })
        {
            return false;
        }

        if (record.History.Window(now, _idle.IdleFor) is not { Count: >= 2 } window
            || window.Any(o => !o.Routable || o.GenerationTokensPerSecond > 0))
        {
            if (record.History.Latest.GenerationTokensPerSecond > 0)
            {
                record.IdleProbeFailures = 0;
            }

            return false;
        }

        var wait = record.IdleProbeFailures > 0 ? _idle.RetryInterval : _idle.Interval;
        return (record.LastIdleProbeAt is not { } last || now - last >= wait)
            && _engines.Values.Count(r => r.IdleProbing) < _idle.MaxConcurrentProbes
            && CouldAct(record, now, disruption: false);
    }

    private void Defer(EngineRecord record, string source, string kind, string reason)
    {
        if (record.LastDeferral != kind)
        {
            record.LastDeferral = kind;
            Record(EventKind.Deferred, record, source, reason);
        }
    }

    /// <summary>Under the lock: the disruption budget of the engine's pool for an action on it.</summary>
    private string? CheckDisruption(EngineRecord target)
    {
        var members = new List<PoolMember>();
        foreach (var r in _engines.Values)
        {
            if (r.Engine.Pool != target.Engine.Pool)
            {
                continue;
            }

            var unavailable = r.OperatorDrained || r.State is EngineActionState.Draining or EngineActionState.Restarting or EngineActionState.Warming;
            var healthy = !unavailable && !r.WatchdogDrained && r.History.Latest is { Routable: true } && !_fleetState.IsDraining(r.Engine.Id)
                && r.IdleProbeFailures < _idle.FailedProbes;
            members.Add(new PoolMember(r.Engine.Id, healthy, unavailable));
        }

        return DisruptionBudget.Check(target.Engine.Pool, target.Engine.Id, members, _budget);
    }

    /// <summary>Under the lock: marks the engine draining and starts the procedure; returns the DRAIN_STARTED event.</summary>
    private Event BeginRestart(EngineRecord record, string source, string reason)
    {
        record.State = EngineActionState.Draining;
        record.LastDeferral = null;
        record.AdoptedUntil = null;
        record.IdleProbeFailures = 0;
        record.IdleProbeEpoch++;
        var e = Record(EventKind.DrainStarted, record, source, "draining before a restart: " + reason);
        PersistLater(record);
        record.Work = Task.Run(() => RestartProcedureAsync(record, source, reason, _stopping.Token));
        return e;
    }

    private async Task ConfirmAsync(EngineRecord record, Detection.Detection detection, CancellationToken cancellationToken)
    {
        try
        {
            var probe = await _probe.GenerateOneTokenAsync(record.Engine, _hung.ProbeTimeout, cancellationToken).ConfigureAwait(false);
            lock (_lock)
            {
                if (probe.Succeeded)
                {
                    record.LastProbePassedAt = _time.GetUtcNow();
                    LogProbePassed(_logger, record.Engine.Id, detection.Detector, probe.Elapsed.TotalMilliseconds);
                    return;
                }

                record.LastProbePassedAt = null;
                var reason = string.Create(CultureInfo.InvariantCulture, $"{detection.Reason}; deep probe (1-token generation) failed: {probe.Detail}");
                Detected(record, detection with { Reason = reason });
                if (_leadership.IsLeader)
                {
                    // The procedure starts a task of its own; this one is about to end.
                    record.Work = null;
                    Decide(record, detection.Detector, reason, _time.GetUtcNow());
                }
            }
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
        }
    }

    /// <summary>An idle probe: a 1-token generation; enough failures in a row are a hang, acted on as any detection.</summary>
    private async Task IdleProbeAsync(EngineRecord record, CancellationToken cancellationToken)
    {
        int epoch;
        lock (_lock)
        {
            epoch = record.IdleProbeEpoch;
        }

        try
        {
            var probe = await _probe.GenerateOneTokenAsync(record.Engine, _idle.ProbeTimeout, cancellationToken).ConfigureAwait(false);
            lock (_lock)
            {
                record.IdleProbing = false;
                if (epoch != record.IdleProbeEpoch || record.State != EngineActionState.Serving)
                {
                    // A restart began meanwhile (an operator's): this answer is about a process on its way out.
                    return;
                }

                if (probe.Succeeded)
                {
                    record.IdleProbeFailures = 0;
                    LogIdleProbe(_logger, record.Engine.Id, probe.Elapsed.TotalMilliseconds, "answered");
                    return;
                }

                record.IdleProbeFailures++;
                LogIdleProbe(_logger, record.Engine.Id, probe.Elapsed.TotalMilliseconds, "failed: " + probe.Detail);
                if (record.IdleProbeFailures < _idle.FailedProbes)
                {
                    return;
                }

                var now = _time.GetUtcNow();
                var reason = string.Create(CultureInfo.InvariantCulture,
                    $"no token generated for at least {_idle.IdleFor.TotalSeconds:0} s (idle: the stall rule needs running requests) and {record.IdleProbeFailures} idle deep probes (1-token generation) in a row failed, the last: {probe.Detail}");
                Detected(record, new Detection.Detection(IdleProbeSource, reason));
                if (_leadership.IsLeader)
                {
                    // The procedure starts a task of its own; this one is about to end.
                    record.Work = null;
                    Decide(record, IdleProbeSource, reason, now);
                }
            }
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
        }
        finally
        {
            lock (_lock)
            {
                record.IdleProbing = false;
            }
        }
    }

    /// <summary>The source of a hang found by the idle probe (events, metrics).</summary>
    public const string IdleProbeSource = "idle_probe";

    /// <summary>Idle probes started and not answered yet (at most <see cref="IdleProbeOptions.MaxConcurrentProbes"/>).</summary>
    public int IdleProbesRunning
    {
        get
        {
            lock (_lock)
            {
                return _engines.Values.Count(r => r.IdleProbing);
            }
        }
    }

    private async Task RestartProcedureAsync(EngineRecord record, string source, string reason, CancellationToken cancellationToken)
    {
        var engine = record.Engine;
        var started = _time.GetUtcNow();
        try
        {
            await _fleetState.SetDrainingAsync(engine.Id, true, $"watchdog {source}: {reason}", cancellationToken).ConfigureAwait(false);
            lock (_lock)
            {
                record.WatchdogDrained = true;
            }

            var drained = await WaitForDrainAsync(engine, cancellationToken).ConfigureAwait(false);
            Record(EventKind.DrainCompleted, record, source, drained);

            if (!_leadership.IsLeader)
            {
                Fail(record, source, "lost the leader lease before restarting; the engine stays drained for the next leader");
                return;
            }

            DateTimeOffset restartAt;
            lock (_lock)
            {
                record.State = EngineActionState.Restarting;
                restartAt = _time.GetUtcNow();
                record.Ledger.Record(restartAt);
            }

            // The restart is recorded where the next leader reads it before it is made: a restart it could not see
            // might be repeated (a restart loop across a failover), and no action beats a double restart.
            if (await PersistAsync(record, cancellationToken).ConfigureAwait(false) is { } notRecorded)
            {
                lock (_lock)
                {
                    record.Ledger.Forget(restartAt);
                }

                Fail(record, source, $"the restart could not be recorded for the next leader ({notRecorded}): not restarted");
                return;
            }

            Record(EventKind.RestartRequested, record, source, $"restarting through {_restarter.Name}");
            try
            {
                using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
                timeout.CancelAfter(_options.RestartTimeout);
                await _restarter.RestartAsync(engine, timeout.Token).ConfigureAwait(false);
            }
            catch (EngineRestartException ex)
            {
                Fail(record, source, $"{_restarter.Name} restart failed: {ex.Message}");
                return;
            }
            catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
            {
                Fail(record, source, string.Create(CultureInfo.InvariantCulture, $"{_restarter.Name} restart did not finish within {_options.RestartTimeout.TotalSeconds:0} s"));
                return;
            }

            lock (_lock)
            {
                record.State = EngineActionState.Warming;
                record.ScrapedBeforeRestart = record.History.Latest?.ScrapedAt;
                record.History.Clear();
            }

            PersistLater(record);

            var restartedAt = _time.GetUtcNow();
            var (warm, detail) = await WaitWarmAsync(engine, cancellationToken).ConfigureAwait(false);
            if (!warm)
            {
                Fail(record, source, detail);
                return;
            }

            Record(EventKind.Recovered, record, source, string.Create(CultureInfo.InvariantCulture,
                $"healthy and warm {(_time.GetUtcNow() - restartedAt).TotalSeconds:0.0} s after the restart ({detail})"));
            await _fleetState.SetDrainingAsync(engine.Id, false, $"watchdog {source}: recovered", cancellationToken).ConfigureAwait(false);
            lock (_lock)
            {
                // The history is kept: it was cleared when the new process started, so it holds only what the HealthScorer
                // saw of the new process while it warmed. Cleared again here, the engine would not count as healthy for
                // the disruption budget until the next snapshot, and a rolling restart's next engine would be refused.
                record.WatchdogDrained = false;
                record.OperatorDrained = false;
                record.State = EngineActionState.Serving;
                record.LastDetection = null;
                record.LastDeferral = null;
            }

            PersistLater(record);
            var total = _time.GetUtcNow() - started;
            Record(EventKind.Undrained, record, source, string.Create(CultureInfo.InvariantCulture,
                $"back in service {total.TotalSeconds:0.0} s after the drain started"));
            RestartCompleted?.Invoke(engine.Pool, total, true);
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            // Stopping: the drain flag stays; the next leader finds the engine drained and healthy and undrains it.
        }
        catch (Exception ex)
        {
            Fail(record, source, $"unexpected error: {ex.GetType().Name}: {ex.Message}");
        }
    }

    /// <summary>Raised when a restart procedure ends: pool, time from drain to undrain (or failure), success.</summary>
    public event Action<string, TimeSpan, bool>? RestartCompleted;

    private void Fail(EngineRecord record, string source, string reason)
    {
        lock (_lock)
        {
            record.State = EngineActionState.Serving;
            record.History.Clear();
            record.LastDetection = null;
            record.LastDeferral = null;
        }

        Record(EventKind.Failed, record, source, reason + (record.WatchdogDrained ? "; the engine stays drained until it is healthy and warm" : ""));
        PersistLater(record);
        RestartCompleted?.Invoke(record.Engine.Pool, TimeSpan.Zero, false);
    }

    /// <summary>Waits while in-flight requests can still finish; says why it stopped waiting.</summary>
    private async Task<string> WaitForDrainAsync(EngineInfo engine, CancellationToken cancellationToken)
    {
        var start = _time.GetUtcNow();
        var lastTokens = double.NaN;
        var lastProgress = start;
        while (true)
        {
            var inFlight = await _probe.ReadInFlightAsync(engine, cancellationToken).ConfigureAwait(false);
            var now = _time.GetUtcNow();
            var waited = now - start;
            var pastMinimum = waited >= _options.DrainMinimum;
            if (inFlight is { } f)
            {
                if (f.GenerationTokensTotal != lastTokens)
                {
                    lastTokens = f.GenerationTokensTotal;
                    lastProgress = now;
                }

                if (pastMinimum && f.Total == 0)
                {
                    return string.Create(CultureInfo.InvariantCulture, $"no request in flight after {waited.TotalSeconds:0.0} s");
                }

                if (pastMinimum && now - lastProgress >= _options.DrainNoProgressTimeout)
                {
                    return string.Create(CultureInfo.InvariantCulture,
                        $"{f.Running:0} running and {f.Waiting:0} waiting made no progress for {(now - lastProgress).TotalSeconds:0.0} s: waiting cannot finish them");
                }

                if (waited >= _options.DrainTimeout)
                {
                    return string.Create(CultureInfo.InvariantCulture, $"drain timeout after {waited.TotalSeconds:0.0} s with {f.Running:0} running and {f.Waiting:0} waiting");
                }
            }
            else if (pastMinimum)
            {
                return string.Create(CultureInfo.InvariantCulture, $"engine unreachable after {waited.TotalSeconds:0.0} s: nothing to wait for");
            }

            await Task.Delay(_options.PollInterval, _time, cancellationToken).ConfigureAwait(false);
        }
    }

    /// <summary>Waits until /health answers 200 and one token is generated, within the recovery timeout.</summary>
    private async Task<(bool Warm, string Detail)> WaitWarmAsync(EngineInfo engine, CancellationToken cancellationToken)
    {
        var start = _time.GetUtcNow();
        var last = "no answer yet";
        while (true)
        {
            if (await _probe.IsHealthyAsync(engine, cancellationToken).ConfigureAwait(false))
            {
                var generation = await _probe.GenerateOneTokenAsync(engine, _options.WarmupTimeout, cancellationToken).ConfigureAwait(false);
                if (generation.Succeeded)
                {
                    return (true, string.Create(CultureInfo.InvariantCulture, $"warm-up generation in {generation.Elapsed.TotalMilliseconds:0} ms"));
                }

                last = "warm-up generation failed: " + generation.Detail;
            }
            else
            {
                last = "/health not 200";
            }

            if (_time.GetUtcNow() - start >= _options.RecoveryTimeout)
            {
                return (false, string.Create(CultureInfo.InvariantCulture, $"not healthy and warm within {_options.RecoveryTimeout.TotalSeconds:0} s ({last})"));
            }

            await Task.Delay(_options.PollInterval, _time, cancellationToken).ConfigureAwait(false);
        }
    }

    /// <summary>An engine left drained that looks healthy: warm it and undrain it.</summary>
    private async Task RecoverAsync(EngineRecord record, CancellationToken cancellationToken)
    {
        try
        {
            var generation = await _probe.GenerateOneTokenAsync(record.Engine, _options.WarmupTimeout, cancellationToken).ConfigureAwait(false);
            if (!generation.Succeeded || !_leadership.IsLeader)
            {
                return;
            }

            await _fleetState.SetDrainingAsync(record.Engine.Id, false, "watchdog: healthy again", cancellationToken).ConfigureAwait(false);
            string after;
            lock (_lock)
            {
                record.WatchdogDrained = false;
                after = record.AdoptedUntil is null ? "a failed restart" : $"a restart by the previous leader ({record.AdoptedFrom})";
                record.AdoptedUntil = null;
            }

            PersistLater(record);
            Record(EventKind.Undrained, record, "recovery", string.Create(CultureInfo.InvariantCulture,
                $"healthy again and warm (generation in {generation.Elapsed.TotalMilliseconds:0} ms) after {after}"));
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
        }
    }

    private Event Record(EventKind kind, EngineRecord record, string source, string reason) =>
        _events.Record(kind, record.Engine.Id, record.Engine.Pool, source, reason);

    [LoggerMessage(EventId = 5110, Level = LogLevel.Warning, Message = "No fresh health view (older than {Seconds} s or none yet): the watchdog does not act")]
    private static partial void LogStaleView(ILogger logger, double seconds);

    [LoggerMessage(EventId = 5111, Level = LogLevel.Information, Message = "Deep probe of {Engine} answered in {Milliseconds:0} ms: not {Detector}")]
    private static partial void LogProbePassed(ILogger logger, string engine, string detector, double milliseconds);

    [LoggerMessage(EventId = 5112, Level = LogLevel.Information, Message = "Idle probe of {Engine} {Outcome} ({Milliseconds:0} ms)")]
    private static partial void LogIdleProbe(ILogger logger, string engine, double milliseconds, string outcome);

    [LoggerMessage(EventId = 5130, Level = LogLevel.Warning, Message = "The restart state could not be read ({Error}): this leader takes no action until it is read")]
    private static partial void LogStateUnreadable(ILogger logger, string error);

    [LoggerMessage(EventId = 5131, Level = LogLevel.Warning, Message = "The restart state of {Engine} was not written: {Error}; no restart until it is")]
    private static partial void LogStateNotSaved(ILogger logger, string engine, string error);

    private sealed class EngineRecord(EngineInfo engine, TimeProvider time)
    {
        private EngineActionState _state;

        public EngineInfo Engine { get; } = engine;

        public EngineHistory History { get; } = new(engine.Id);

        public RestartLedger Ledger { get; } = new();

        public EngineActionState State
        {
            get => _state;
            set
            {
                if (value != _state)
                {
                    _state = value;
                    StateSince = time.GetUtcNow();
                }
            }
        }

        /// <summary>When <see cref="State"/> last changed (a new leader bounds its wait for an adopted restart by it).</summary>
        public DateTimeOffset StateSince { get; private set; } = time.GetUtcNow();

        /// <summary>A restart the previous leader had under way: no automatic action before this time.</summary>
        public DateTimeOffset? AdoptedUntil { get; set; }

        public string? AdoptedFrom { get; set; }

        /// <summary>
        /// The HealthScorer's last successful scrape known when the engine's restart returned (its clock): readings that
        /// are no newer are of the previous process.
        /// </summary>
        public DateTimeOffset? ScrapedBeforeRestart { get; set; }

        /// <summary>A change not yet written to the restart state store.</summary>
        public bool PersistPending { get; set; }

        public DateTimeOffset? LastIdleProbeAt { get; set; }

        /// <summary>Idle probes failed in a row (reset by an answered probe, a generated token, or a restart).</summary>
        public int IdleProbeFailures { get; set; }

        public bool IdleProbing { get; set; }

        /// <summary>Increased by every restart, so an idle probe's answer from before it is dropped.</summary>
        public int IdleProbeEpoch { get; set; }

        /// <summary>The watchdog set the drain flag and has not lifted it.</summary>
        public bool WatchdogDrained { get; set; }

        /// <summary>An operator drained it: no automatic action until undrained.</summary>
        public bool OperatorDrained { get; set; }

        public string? LastDetection { get; set; }

        public string? LastDeferral { get; set; }

        public DateTimeOffset? LastProbePassedAt { get; set; }

        /// <summary>The probe or procedure running for this engine, if any.</summary>
        public Task? Work { get; set; }
    }
}
