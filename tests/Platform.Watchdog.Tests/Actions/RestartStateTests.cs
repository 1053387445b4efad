using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using Microsoft.Extensions.Time.Testing;
using Platform.Fleet.Catalog;
using Platform.Fleet.Redis;
using Platform.Fleet.State;
using Platform.Watchdog.Actions;
using Platform.Watchdog.Detection;
using Platform.Watchdog.Events;
using Platform.Watchdog.Leadership;
using Platform.Watchdog.Orchestrators;
using Platform.Watchdog.Tests.Fixtures;
using Platform.Watchdog.V1;
using StackExchange.Redis;

namespace Platform.Watchdog.Tests.Actions;

/// <summary>
/// The restart state a leader leaves for the next one: two coordinators, each with its own leader election, on one
/// real redis-server (the lease and the state), and on a fake store for what Redis cannot be made to do on cue.
/// </summary>
public sealed class RestartStateTests
{
    private static readonly FakeCatalog Catalog = new(("general", 2), ("code", 1));

    private static Func<EngineObservation, EngineObservation> Dead(string engineId) =>
        o => o.EngineId == engineId ? o with { Reachable = false, ConsecutiveScrapeErrors = 3, LastScrapeError = "connect" } : o;

    private static EngineCoordinator Coordinator(
        TimeProvider time, EventLog events, ILeadership leadership, IRestartStateStore store, IFleetState fleet, IEngineRestarter restarter, FakeProbe? probe = null, int maxRestartsPerHour = 3) =>
        new(
            Catalog, fleet, probe ?? new FakeProbe(), restarter, events, leadership,
            [new DeadDetector(Options.Create(new DeadDetectorOptions { GracePeriod = TimeSpan.Zero }))],
            Options.Create(new WatchdogOptions { DrainMinimum = TimeSpan.Zero, PollInterval = TimeSpan.FromMilliseconds(20) }),
            Options.Create(new BudgetOptions { MaxRestartsPerHour = maxRestartsPerHour, InitialBackoff = TimeSpan.FromSeconds(30), MaxBackoff = TimeSpan.FromMinutes(10) }),
            Options.Create(new HungDetectorOptions()), time, NullLogger<EngineCoordinator>.Instance, store);

    private static async Task FeedAsync(EngineCoordinator coordinator, TimeProvider time, Func<EngineObservation, EngineObservation>? shape = null)
    {
        var now = time.GetUtcNow();
        coordinator.OnSnapshot(Catalog.Engines.Select(e => (shape ?? (o => o))(Observations.Healthy(e.Id, now, e.Pool))).ToList());
        await coordinator.Idle.WaitAsync(TimeSpan.FromSeconds(30), TestContext.Current.CancellationToken);
    }

    private static List<Event> EventsOf(EventLog events, string engineId) => events.Recent(1000, engineId).ToList();

    /// <summary>Two replicas sharing one redis-server: lease, restart state, and (a fake) drain flags.</summary>
    private sealed class TwoReplicas : IAsyncDisposable
    {
        private readonly RedisServer _redis;
        private readonly FleetRedisConnection _connection;

        private TwoReplicas(RedisServer redis, FleetRedisConnection connection, int maxRestartsPerHour, IEngineRestarter restarterA)
        {
            _redis = redis;
            _connection = connection;
            var fleetOptions = Options.Create(new FleetStateOptions());
            var budget = Options.Create(new BudgetOptions());
            Lease = new RedisLeaseStore(connection, fleetOptions);
            Store = new RedisRestartStateStore(connection, fleetOptions, budget);
            ElectionA = Election("a");
            ElectionB = Election("b");
            A = Coordinator(TimeProvider.System, EventsA, ElectionA, Store, Fleet, restarterA, maxRestartsPerHour: maxRestartsPerHour);
            B = Coordinator(TimeProvider.System, EventsB, ElectionB, Store, Fleet, RestarterB, ProbeB, maxRestartsPerHour);
            ElectionA.Changed += A.OnLeadershipChanged;
            ElectionB.Changed += B.OnLeadershipChanged;
        }

        public RedisLeaseStore Lease { get; }

        public RedisRestartStateStore Store { get; }

        public FakeFleetState Fleet { get; } = new();

        public EventLog EventsA { get; } = new(TimeProvider.System);

        public EventLog EventsB { get; } = new(TimeProvider.System);

        public FakeRestarter RestarterB { get; } = new();

        public FakeProbe ProbeB { get; } = new();

        public LeaderElection ElectionA { get; }

        public LeaderElection ElectionB { get; }

        public EngineCoordinator A { get; }

        public EngineCoordinator B { get; }

        public IDatabase Database => _connection.Multiplexer!.GetDatabase();

        public static async Task<TwoReplicas> StartAsync(int maxRestartsPerHour, IEngineRestarter restarterA)
        {
            var redis = await RedisServer.StartAsync();
            var connection = new FleetRedisConnection(redis.ConnectionString, NullLogger<FleetRedisConnection>.Instance);
            var multiplexer = await connection.ConnectAsync(CancellationToken.None);
            await Poll.UntilAsync(() => multiplexer!.IsConnected, TimeSpan.FromSeconds(30), "the Redis connection");
            var replicas = new TwoReplicas(redis, connection, maxRestartsPerHour, restarterA);

            // a leads (and reads the empty state), b follows.
            await replicas.ElectionA.TickAsync(CancellationToken.None);
            await replicas.ElectionB.TickAsync(CancellationToken.None);
            Assert.True(replicas.ElectionA.IsLeader);
            Assert.False(replicas.ElectionB.IsLeader);
            await replicas.A.Idle.WaitAsync(TimeSpan.FromSeconds(30), TestContext.Current.CancellationToken);
            return replicas;
        }

        public async ValueTask DisposeAsync()
        {
            A.Dispose();
            B.Dispose();
            await _connection.DisposeAsync();
            await _redis.DisposeAsync();
        }

        private LeaderElection Election(string id) =>
            new(Lease, Options.Create(new LeaseOptions { Ttl = TimeSpan.FromSeconds(10), RenewInterval = TimeSpan.FromSeconds(2), ReplicaId = id }), TimeProvider.System, NullLogger<LeaderElection>.Instance);
    }

    [Theory]
    [InlineData(3, EventKind.Deferred, "back-off: no automatic restart before")]
    [InlineData(1, EventKind.Escalated, "restart budget spent: 1 restarts in the last hour (at most 1)")]
    public async Task Failover_OnRealRedis_NewLeaderRespectsThePreviousLeadersBackoffAndBudget(int maxRestartsPerHour, EventKind expected, string reason)
    {
        var restarterA = new FakeRestarter();
        await using var replicas = await TwoReplicas.StartAsync(maxRestartsPerHour, restarterA);

        // a restarts a dead engine, then stops (and hands the lease over).
        await FeedAsync(replicas.A, TimeProvider.System, Dead("general-1"));
        Assert.Equal(["general-1"], restarterA.Restarts);
        Assert.Equal(EventKind.Undrained, EventsOf(replicas.EventsA, "general-1")[^1].Kind);
        await replicas.ElectionA.StopAsync(CancellationToken.None);

        // What a left in Redis: the restart, with an expiry.
        var key = replicas.Store.KeyOf("general-1");
        Assert.Equal("serving", (string?)await replicas.Database.HashGetAsync(key, "state"));
        Assert.Equal("a", (string?)await replicas.Database.HashGetAsync(key, "by"));
        Assert.Single(((string?)await replicas.Database.HashGetAsync(key, "restarts"))!.Split(','));
        var ttl = await replicas.Database.KeyTimeToLiveAsync(key);
        Assert.InRange(ttl!.Value, TimeSpan.FromHours(23), TimeSpan.FromHours(24));

        // b takes over, reads it, and sees the engine dead again at once: no second restart.
        await replicas.ElectionB.TickAsync(CancellationToken.None);
        Assert.True(replicas.ElectionB.IsLeader);
        await FeedAsync(replicas.B, TimeProvider.System, Dead("general-1"));
        await FeedAsync(replicas.B, TimeProvider.System, Dead("general-1"));

        Assert.Empty(replicas.RestarterB.Restarts);
        var events = EventsOf(replicas.EventsB, "general-1");
        Assert.Equal([EventKind.Detected, expected], events.Select(e => e.Kind));
        Assert.Contains(reason, events[1].Reason, StringComparison.Ordinal);
        var status = replicas.B.Status().Single(s => s.EngineId == "general-1");
        Assert.Equal(1, status.RestartsLastHour);
        Assert.Contains(EventsOf(replicas.EventsB, ""), e => e.Kind == EventKind.Leadership && e.Reason.Contains("1 with restarts in the last hour", StringComparison.Ordinal));

        // A stepped-down replica cannot overwrite what the leader wrote (fencing on the lease).
        Assert.False(await replicas.Store.SaveAsync("general-1", new PersistedEngineState([], EngineActionState.Serving, DateTimeOffset.UtcNow, false, false, "a"), "a", CancellationToken.None));
    }

    [Fact]
    public async Task Failover_MidRestart_OnRealRedis_NewLeaderDoesNotRestartAgainAndUndrainsOnceBack()
    {
        var restarterA = new GatedRestarter();
        await using var replicas = await TwoReplicas.StartAsync(3, restarterA);

        // a drains the dead engine and asks for its restart, which is still under way when a dies.
        var now = DateTimeOffset.UtcNow;
        replicas.A.OnSnapshot(Catalog.Engines.Select(e => Dead("general-1")(Observations.Healthy(e.Id, now, e.Pool))).ToList());
        await restarterA.Started.Task.WaitAsync(TimeSpan.FromSeconds(30), TestContext.Current.CancellationToken);
        Assert.Equal("restarting", (string?)await replicas.Database.HashGetAsync(replicas.Store.KeyOf("general-1"), "state"));
        replicas.A.Dispose();
        await replicas.Database.KeyDeleteAsync("platform:watchdog:leader");

        // b leads: the engine is still dead (its restart takes a while), and b does not restart it a second time.
        await replicas.ElectionB.TickAsync(CancellationToken.None);
        Assert.True(replicas.ElectionB.IsLeader);
        await FeedAsync(replicas.B, TimeProvider.System, Dead("general-1"));
        await FeedAsync(replicas.B, TimeProvider.System, Dead("general-1"));
        Assert.Empty(replicas.RestarterB.Restarts);
        var deferred = EventsOf(replicas.EventsB, "general-1").Single(e => e.Kind == EventKind.Deferred);
        Assert.Contains("the previous leader (a) had a restart of it under way", deferred.Reason, StringComparison.Ordinal);
        Assert.True(replicas.Fleet.IsDraining("general-1"));
        Assert.NotNull(replicas.B.Status().Single(s => s.EngineId == "general-1").NotBefore);

        // a's restart brought it back: b warms it and undrains it.
        await FeedAsync(replicas.B, TimeProvider.System);
        await FeedAsync(replicas.B, TimeProvider.System);
        Assert.False(replicas.Fleet.IsDraining("general-1"));
        var undrained = EventsOf(replicas.EventsB, "general-1")[^1];
        Assert.Equal(EventKind.Undrained, undrained.Kind);
        Assert.Equal("recovery", undrained.Source);
        Assert.Contains("after a restart by the previous leader (a)", undrained.Reason, StringComparison.Ordinal);
        Assert.Empty(replicas.RestarterB.Restarts);
        Assert.Equal("0", (string?)await replicas.Database.HashGetAsync(replicas.Store.KeyOf("general-1"), "wd"));
    }

    [Fact]
    public async Task NewLeader_StoreUnreachable_TakesNoActionUntilItHasReadTheState()
    {
        var time = new FakeTimeProvider(new DateTimeOffset(2026, 1, 1, 12, 0, 0, TimeSpan.Zero));
        var store = new InMemoryRestartStateStore { Shared = true, Unreachable = true };
        var restarter = new FakeRestarter();
        var events = new EventLog(time);
        using var coordinator = Coordinator(time, events, new FakeLeadership(), store, new FakeFleetState(), restarter);

        coordinator.OnLeadershipChanged(true, "test");
        await FeedAsync(coordinator, time, Dead("general-1"));
        await FeedAsync(coordinator, time, Dead("general-1"));

        Assert.Empty(restarter.Restarts);
        Assert.Equal(OperatorRefusal.StateUnavailable, coordinator.Restart("general-0", "test", force: true).Refusal);

        store.Unreachable = false;
        await FeedAsync(coordinator, time, Dead("general-1"));
        await FeedAsync(coordinator, time, Dead("general-1"));

        Assert.Equal(["general-1"], restarter.Restarts);
        Assert.Single(store.States["general-1"].Restarts);
    }

    [Fact]
    public async Task Restart_ThatCannotBeRecorded_IsNotMade_AndNoneIsTriedUntilTheStoreAnswers()
    {
        var time = new FakeTimeProvider(new DateTimeOffset(2026, 1, 1, 12, 0, 0, TimeSpan.Zero));
        var store = new InMemoryRestartStateStore { Shared = true };
        var restarter = new FakeRestarter();
        var fleet = new FakeFleetState();
        var events = new EventLog(time);
        using var coordinator = Coordinator(time, events, new FakeLeadership(), store, fleet, restarter);
        coordinator.OnLeadershipChanged(true, "test");
        await FeedAsync(coordinator, time);

        store.Unreachable = true;
        await FeedAsync(coordinator, time, Dead("general-1"));
        for (var i = 0; i < 5; i++)
        {
            time.Advance(TimeSpan.FromSeconds(1));
            await FeedAsync(coordinator, time, Dead("general-1"));
        }

        Assert.Empty(restarter.Restarts);
        var seen = EventsOf(events, "general-1");
        Assert.Contains(seen, e => e.Kind == EventKind.Failed && e.Reason.Contains("the restart could not be recorded for the next leader", StringComparison.Ordinal));
        Assert.Single(seen, e => e.Kind == EventKind.Deferred && e.Reason.Contains("cannot be written", StringComparison.Ordinal));
        Assert.Equal(0, coordinator.Status().Single(s => s.EngineId == "general-1").RestartsLastHour);

        store.Unreachable = false;
        for (var i = 0; i < 3 && restarter.Restarts.IsEmpty; i++)
        {
            time.Advance(TimeSpan.FromSeconds(1));
            await FeedAsync(coordinator, time, Dead("general-1"));
        }

        Assert.Equal(["general-1"], restarter.Restarts);
    }

    /// <summary>A restart that starts and does not finish until cancelled (the orchestrator still at it).</summary>
    private sealed class GatedRestarter : IEngineRestarter
    {
        public TaskCompletionSource Started { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public string Name => "gated";

        public async Task RestartAsync(EngineInfo engine, CancellationToken cancellationToken)
        {
            Started.TrySetResult();
            await Task.Delay(Timeout.Infinite, cancellationToken);
        }
    }
}
