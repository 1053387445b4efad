using System.Collections.Concurrent;
using Platform.Fleet.Catalog;
using Platform.Fleet.State;
using Platform.Watchdog.Actions;
using Platform.Watchdog.Detection;
using Platform.Watchdog.Orchestrators;
using Platform.Watchdog.Probing;

namespace Platform.Watchdog.Tests.Fixtures;

/// <summary>A catalog of pools with the given engine counts: engine ids {pool}-{i}.</summary>
internal sealed class FakeCatalog : IFleetCatalog
{
    public FakeCatalog(params (string Pool, int Engines)[] pools)
    {
        var engines = new List<EngineInfo>();
        var poolInfos = new List<PoolInfo>();
        var port = 20000;
        foreach (var (pool, count) in pools)
        {
            var members = Enumerable.Range(0, count).Select(i => new EngineInfo($"{pool}-{i}", pool, "llama-3.1-8b-instruct", new Uri($"http://127.0.0.1:{port++}/"))).ToList();
            engines.AddRange(members);
            poolInfos.Add(new PoolInfo(pool, "llama-3.1-8b-instruct", TaskAffinity.None, 4096, null, members));
        }

        Engines = engines;
        Pools = poolInfos;
        Models = [new ModelInfo("llama-3.1-8b-instruct", null, 4096, poolInfos)];
    }

    public IReadOnlyList<ModelInfo> Models { get; }

    public IReadOnlyList<PoolInfo> Pools { get; }

    public IReadOnlyList<EngineInfo> Engines { get; }

    public ModelInfo? FindModel(string name) => Models.FirstOrDefault(m => m.Name == name);

    public EngineInfo? FindEngine(string engineId) => Engines.FirstOrDefault(e => e.Id == engineId);

    public PoolInfo? FindPool(string name) => Pools.FirstOrDefault(p => p.Name == name);
}

/// <summary>Drain flags only, with every change recorded.</summary>
internal sealed class FakeFleetState : IFleetState
{
    private readonly ConcurrentDictionary<string, bool> _drains = new();

    public ConcurrentQueue<(string Engine, bool Draining, string? Reason)> DrainChanges { get; } = new();

    public bool RedisAvailable => true;

    public event Action<FleetChange>? Changed;

    public BreakerSnapshot GetBreaker(string engineId) => BreakerSnapshot.Closed(engineId);

    public bool IsDraining(string engineId) => _drains.TryGetValue(engineId, out var d) && d;

    public EngineHealthEntry? GetHealth(string engineId) => null;

    public ValueTask<BreakerSnapshot> RecordOutcomeAsync(string engineId, EngineOutcome outcome, string? reason, CancellationToken cancellationToken) => ValueTask.FromResult(BreakerSnapshot.Closed(engineId));

    public ValueTask<bool> TryAcquireProbeLeaseAsync(string engineId, CancellationToken cancellationToken) => ValueTask.FromResult(false);

    public ValueTask<BreakerSnapshot> CompleteProbeAsync(string engineId, bool success, string? reason, CancellationToken cancellationToken) => ValueTask.FromResult(BreakerSnapshot.Closed(engineId));

    public ValueTask SetDrainingAsync(string engineId, bool draining, string? reason, CancellationToken cancellationToken)
    {
        _drains[engineId] = draining;
        DrainChanges.Enqueue((engineId, draining, reason));
        Changed?.Invoke(new FleetChange(FleetChangeKind.Drain, engineId, DateTimeOffset.UtcNow, null));
        return ValueTask.CompletedTask;
    }

    public ValueTask PublishHealthAsync(IReadOnlyList<EngineHealthEntry> entries, CancellationToken cancellationToken) => ValueTask.CompletedTask;
}

/// <summary>Scripted answers per engine: in-flight figures, health, generation.</summary>
internal sealed class FakeProbe : IEngineProbe
{
    public Func<string, InFlight?> InFlight { get; set; } = _ => new InFlight(0, 0, 0);

    public Func<string, bool> Healthy { get; set; } = _ => true;

    public Func<string, GenerationProbe> Generation { get; set; } = _ => new GenerationProbe(true, TimeSpan.FromMilliseconds(5), "ok");

    public ConcurrentQueue<string> Generations { get; } = new();

    public Task<InFlight?> ReadInFlightAsync(EngineInfo engine, CancellationToken cancellationToken) => Task.FromResult(InFlight(engine.Id));

    public Task<bool> IsHealthyAsync(EngineInfo engine, CancellationToken cancellationToken) => Task.FromResult(Healthy(engine.Id));

    public Task<GenerationProbe> GenerateOneTokenAsync(EngineInfo engine, TimeSpan timeout, CancellationToken cancellationToken)
    {
        Generations.Enqueue(engine.Id);
        return Task.FromResult(Generation(engine.Id));
    }
}

internal sealed class FakeRestarter : IEngineRestarter
{
    public ConcurrentQueue<string> Restarts { get; } = new();

    public Func<string, Exception?> Failure { get; set; } = _ => null;

    public string Name => "fake";

    public Task RestartAsync(EngineInfo engine, CancellationToken cancellationToken)
    {
        Restarts.Enqueue(engine.Id);
        return Failure(engine.Id) is { } ex ? Task.FromException(ex) : Task.CompletedTask;
    }
}

internal sealed class FakeLeadership : ILeadership
{
    public bool IsLeader { get; set; } = true;

    public string? Holder { get; set; } = "test";

    public string ReplicaId { get; set; } = "test";

    public string? LeaderAddress { get; set; }
}

/// <summary>Builds observations: a healthy engine by default, changed with a `with` expression.</summary>
internal static class Observations
{
    public static EngineObservation Healthy(string engineId, DateTimeOffset at, string? pool = null) => new(
        at, engineId, pool ?? engineId[..engineId.LastIndexOf('-')], Reachable: true, Stalled: false, ConsecutiveScrapeErrors: 0, LastScrapeError: "",
        KvCacheUsage: 0.1, Running: 1, Waiting: 0, TtftP95Seconds: 0.2, GenerationTokensPerSecond: 100, ScrapedAt: at);
}
