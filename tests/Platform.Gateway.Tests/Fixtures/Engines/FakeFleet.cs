using System.Collections.Concurrent;
using Platform.Fleet.Catalog;
using Platform.Fleet.State;

namespace Platform.Gateway.Tests.Fixtures.Engines;

/// <summary>A catalog built in code.</summary>
internal sealed class FakeCatalog(IReadOnlyList<ModelInfo> models) : IFleetCatalog
{
    public IReadOnlyList<ModelInfo> Models { get; } = models;

    public IReadOnlyList<PoolInfo> Pools { get; } = models.SelectMany(m => m.Pools).ToArray();

    public IReadOnlyList<EngineInfo> Engines { get; } = models.SelectMany(m => m.Pools).SelectMany(p => p.Engines).ToArray();

    public ModelInfo? FindModel(string name) => Models.FirstOrDefault(m => m.Name == name);

    public EngineInfo? FindEngine(string engineId) => Engines.FirstOrDefault(e => e.Id == engineId);

    public PoolInfo? FindPool(string name) => Pools.FirstOrDefault(p => p.Name == name);

    public static PoolInfo Pool(string name, string model, TaskAffinity affinity, int engines, bool speculative = false, Func<int, Uri>? uri = null) =>
        new(name, model, affinity, 4096, speculative ? new SpeculativeInfo("draft_model", "draft", TaskAffinity.General, 4) : null,
            Enumerable.Range(0, engines).Select(i => new EngineInfo($"{name}-{i}", name, model, uri?.Invoke(i) ?? new Uri($"http://127.0.0.1:{10000 + i}/"))).ToArray());

    public static EngineInfo Engine(string id, string pool, string model, Uri uri) =>
        new(id, pool, model, new Uri(uri.ToString().TrimEnd('/') + "/"));
}

/// <summary>
/// An in-memory fleet state with the breaker rules in their simplest form: <see cref="FailuresToOpen"/> consecutive
/// failures open it, <see cref="CoolDownElapsed"/> moves it to half-open, a probe closes or re-opens it.
/// </summary>
internal sealed class FakeFleetState : IFleetState
{
    private readonly ConcurrentDictionary<string, BreakerSnapshot> _breakers = new();
    private readonly ConcurrentDictionary<string, bool> _draining = new();
    private readonly ConcurrentDictionary<string, EngineHealthEntry> _health = new();
    private readonly ConcurrentDictionary<string, bool> _leases = new();

    public int FailuresToOpen { get; set; } = 3;

    public ConcurrentQueue<(string Engine, EngineOutcome Outcome)> Outcomes { get; } = new();

    public ConcurrentQueue<EngineHealthEntry> Published { get; } = new();

    public bool RedisAvailable => true;

    public event Action<FleetChange>? Changed;

    public BreakerSnapshot GetBreaker(string engineId) => _breakers.GetValueOrDefault(engineId) ?? BreakerSnapshot.Closed(engineId);

    public bool IsDraining(string engineId) => _draining.GetValueOrDefault(engineId);

    public EngineHealthEntry? GetHealth(string engineId) => _health.GetValueOrDefault(engineId);

    public void SetBreaker(string engineId, BreakerState state) => Set(GetBreaker(engineId) with { State = state, Version = GetBreaker(engineId).Version + 1 });

    public void SetHealth(EngineHealthEntry entry) => _health[entry.EngineId] = entry;

    /// <summary>Open breakers go half-open (the fleet state's cool-down).</summary>
    public void CoolDownElapsed()
    {
        foreach (var b in _breakers.Values.Where(b => b.State == BreakerState.Open).ToArray())
        {
            Set(b with { State = BreakerState.HalfOpen, Version = b.Version + 1 });
        }
    }

    public ValueTask<BreakerSnapshot> RecordOutcomeAsync(string engineId, EngineOutcome outcome, string? reason, CancellationToken cancellationToken)
    {
        Outcomes.Enqueue((engineId, outcome));
        var b = GetBreaker(engineId);
        if (outcome == EngineOutcome.Success && b.State == BreakerState.Closed)
        {
            b = b with { ConsecutiveFailures = 0 };
            _breakers[engineId] = b;
        }
        else if (outcome == EngineOutcome.Failure && b.State == BreakerState.Closed)
        {
            var failures = b.ConsecutiveFailures + 1;
            b = failures >= FailuresToOpen
                ? b with { State = BreakerState.Open, ConsecutiveFailures = failures, Reason = reason, Version = b.Version + 1 }
                : b with { ConsecutiveFailures = failures };
            if (b.State == BreakerState.Open)
            {
                Set(b);
            }
            else
            {
                _breakers[engineId] = b;
            }
        }

        return ValueTask.FromResult(b);
    }

    public ValueTask<bool> TryAcquireProbeLeaseAsync(string engineId, CancellationToken cancellationToken) =>
        ValueTask.FromResult(GetBreaker(engineId).State == BreakerState.HalfOpen && _leases.TryAdd(engineId, true));

    public ValueTask<BreakerSnapshot> CompleteProbeAsync(string engineId, bool success, string? reason, CancellationToken cancellationToken)
    {
        _leases.TryRemove(engineId, out _);
        var b = GetBreaker(engineId);
        b = success
            ? b with { State = BreakerState.Closed, ConsecutiveFailures = 0, Reason = null, Version = b.Version + 1 }
            : b with { State = BreakerState.Open, Reason = reason, Version = b.Version + 1 };
        Set(b);
        return ValueTask.FromResult(b);
    }

    public ValueTask SetDrainingAsync(string engineId, bool draining, string? reason, CancellationToken cancellationToken)
    {
        _draining[engineId] = draining;
        Changed?.Invoke(new FleetChange(FleetChangeKind.Drain, engineId, DateTimeOffset.UtcNow, "test"));
        return ValueTask.CompletedTask;
    }

    public ValueTask PublishHealthAsync(IReadOnlyList<EngineHealthEntry> entries, CancellationToken cancellationToken)
    {
        foreach (var e in entries)
        {
            Published.Enqueue(e);
            _health[e.EngineId] = e;
        }

        return ValueTask.CompletedTask;
    }

    private void Set(BreakerSnapshot snapshot)
    {
        _breakers[snapshot.EngineId] = snapshot;
        Changed?.Invoke(new FleetChange(FleetChangeKind.Breaker, snapshot.EngineId, DateTimeOffset.UtcNow, "test"));
    }
}

/// <summary>A health view set by the test.</summary>
internal sealed class FakeHealthView : Platform.Gateway.Health.IEngineHealthView
{
    private readonly ConcurrentDictionary<string, EngineHealthEntry> _entries = new();

    public EngineHealthEntry? Get(string engineId) => _entries.GetValueOrDefault(engineId);

    public void Set(string engineId, double score = 100, PressureState pressure = PressureState.Normal, bool reachable = true, double waiting = 0) =>
        _entries[engineId] = new EngineHealthEntry(engineId, score, pressure, reachable, 0.1, 0, waiting, double.NaN, DateTimeOffset.UtcNow);
}

/// <summary>Meters for components built by hand in unit tests; disposed with the factory.</summary>
internal sealed class TestMeterFactory : System.Diagnostics.Metrics.IMeterFactory
{
    private readonly ConcurrentBag<System.Diagnostics.Metrics.Meter> _meters = [];

    public System.Diagnostics.Metrics.Meter Create(System.Diagnostics.Metrics.MeterOptions options)
    {
        var meter = new System.Diagnostics.Metrics.Meter(options.Name, options.Version, options.Tags, scope: this);
        _meters.Add(meter);
        return meter;
    }

    public void Dispose()
    {
        foreach (var meter in _meters)
        {
            meter.Dispose();
        }
    }
}
