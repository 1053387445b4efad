using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using Microsoft.Extensions.Time.Testing;
using Platform.Fleet.Redis;
using Platform.Fleet.State;
using Platform.Watchdog.Leadership;
using Platform.Watchdog.Tests.Fixtures;

namespace Platform.Watchdog.Tests.Leadership;

public sealed class LeaderElectionTests
{
    private static readonly LeaseOptions Lease = new() { Ttl = TimeSpan.FromSeconds(10), RenewInterval = TimeSpan.FromSeconds(2) };

    private static LeaderElection Election(ILeaseStore store, TimeProvider time, string id) =>
        new(store, Options.Create(new LeaseOptions { Ttl = Lease.Ttl, RenewInterval = Lease.RenewInterval, ReplicaId = id }), time, NullLogger<LeaderElection>.Instance);

    [Fact]
    public async Task TwoReplicas_OneStore_ExactlyOneLeadsAtEveryMoment()
    {
        var time = new FakeTimeProvider();
        var store = new InMemoryLeaseStore(time);
        var a = Election(store, time, "a");
        var b = Election(store, time, "b");
        var changes = new List<string>();
        a.Changed += (leader, reason) => changes.Add($"a {leader}");
        b.Changed += (leader, reason) => changes.Add($"b {leader}");

        for (var i = 0; i < 50; i++)
        {
            await a.TickAsync(CancellationToken.None);
            await b.TickAsync(CancellationToken.None);
            Assert.True(a.IsLeader ^ b.IsLeader, $"tick {i}: a={a.IsLeader} b={b.IsLeader}");
            time.Advance(Lease.RenewInterval);
        }

        Assert.Equal(["a True"], changes);
        Assert.Equal("a", b.Holder);
    }

    [Fact]
    public async Task LeaderCutOffFromTheStore_StepsDownBeforeAnotherCanLead_NeverTwoLeaders()
    {
        var time = new FakeTimeProvider();
        var shared = new InMemoryLeaseStore(time);
        var cutOff = new FlakyStore(shared);
        var a = Election(cutOff, time, "a");
        var b = Election(shared, time, "b");
        var reasons = new List<string>();
        a.Changed += (leader, reason) => reasons.Add(reason);
        await a.TickAsync(CancellationToken.None);
        await b.TickAsync(CancellationToken.None);
        var acquiredAt = time.GetUtcNow();
        Assert.True(a.IsLeader);

        cutOff.Unreachable = true;
        DateTimeOffset? aLastLeading = null, bFirstLeading = null;
        while (time.GetUtcNow() - acquiredAt < TimeSpan.FromSeconds(20))
        {
            time.Advance(TimeSpan.FromMilliseconds(500));
            await a.TickAsync(CancellationToken.None);
            await b.TickAsync(CancellationToken.None);
            Assert.False(a.IsLeader && b.IsLeader, $"two leaders at +{(time.GetUtcNow() - acquiredAt).TotalSeconds} s");
            aLastLeading = a.IsLeader ? time.GetUtcNow() : aLastLeading;
            bFirstLeading ??= b.IsLeader ? time.GetUtcNow() : null;
        }

        // a counts itself leader until acquired + Ttl - RenewInterval (8 s); the lease expires for b at 10 s.
        Assert.Equal(TimeSpan.FromSeconds(7.5), aLastLeading!.Value - acquiredAt);
        Assert.Equal(TimeSpan.FromSeconds(10), bFirstLeading!.Value - acquiredAt);
        Assert.Contains(reasons, r => r.Contains("a could not renew the leader lease (TimeoutException); stepping down", StringComparison.Ordinal));
    }

    [Fact]
    public async Task LeaderStopping_ReleasesTheLeaseSoAnotherTakesOverAtOnce()
    {
        var time = new FakeTimeProvider();
        var store = new InMemoryLeaseStore(time);
        var a = Election(store, time, "a");
        var b = Election(store, time, "b");
        await a.TickAsync(CancellationToken.None);
        await b.TickAsync(CancellationToken.None);
        Assert.False(b.IsLeader);

        await a.StopAsync(CancellationToken.None);
        await b.TickAsync(CancellationToken.None);

        Assert.False(a.IsLeader);
        Assert.True(b.IsLeader);
    }

    [Fact]
    public async Task RedisLeaseStore_OnRealRedis_OnlyTheHolderRenewsOrReleases()
    {
        await using var redis = await RedisServer.StartAsync();
        using var connection = new FleetRedisConnection(redis.ConnectionString, NullLogger<FleetRedisConnection>.Instance);
        var multiplexer = await connection.ConnectAsync(CancellationToken.None);
        await Poll.UntilAsync(() => multiplexer!.IsConnected, TimeSpan.FromSeconds(30), "the Redis connection");
        var store = new RedisLeaseStore(connection, Options.Create(new FleetStateOptions { KeyPrefix = "test:" }));
        var database = multiplexer!.GetDatabase();
        var ct = TestContext.Current.CancellationToken;

        Assert.Equal("test:watchdog:leader", store.Key);
        Assert.Equal("test:watchdog:leader:grpc", store.AddressKey);
        Assert.True(await store.TryAcquireAsync("a", null, TimeSpan.FromSeconds(30), ct));
        Assert.True(await store.TryAcquireAsync("a", "http://10.0.0.1:18205", TimeSpan.FromSeconds(30), ct));
        Assert.False(await store.TryAcquireAsync("b", "http://10.0.0.2:18205", TimeSpan.FromSeconds(30), ct));
        Assert.False(await store.RenewAsync("b", "http://10.0.0.2:18205", TimeSpan.FromSeconds(30), ct));
        await store.ReleaseAsync("b", ct);
        Assert.Equal(new LeaseHolder("a", "http://10.0.0.1:18205"), await store.HolderAsync(ct));

        await store.ReleaseAsync("a", ct);
        Assert.Null(await store.HolderAsync(ct));
        Assert.False(await database.KeyExistsAsync(store.AddressKey));
        Assert.True(await store.TryAcquireAsync("b", null, TimeSpan.FromMilliseconds(300), ct));
        Assert.Equal(new LeaseHolder("b", null), await store.HolderAsync(ct));
        await Poll.UntilAsync(async () => await store.HolderAsync(ct) is null, TimeSpan.FromSeconds(10), "the lease to expire");
        Assert.False(await store.RenewAsync("b", null, TimeSpan.FromSeconds(30), ct));
        Assert.True(await store.TryAcquireAsync("a", null, TimeSpan.FromSeconds(30), ct));
    }

    [Fact]
    public async Task TwoElections_OnRealRedis_ElectOneLeader()
    {
        await using var redis = await RedisServer.StartAsync();
        using var connection = new FleetRedisConnection(redis.ConnectionString, NullLogger<FleetRedisConnection>.Instance);
        var multiplexer = await connection.ConnectAsync(CancellationToken.None);
        await Poll.UntilAsync(() => multiplexer!.IsConnected, TimeSpan.FromSeconds(30), "the Redis connection");
        var store = new RedisLeaseStore(connection, Options.Create(new FleetStateOptions()));
        var a = Election(store, TimeProvider.System, "a");
        var b = Election(store, TimeProvider.System, "b");

        await Task.WhenAll(a.TickAsync(CancellationToken.None), b.TickAsync(CancellationToken.None));

        Assert.True(a.IsLeader ^ b.IsLeader);
        Assert.Equal(a.IsLeader ? "a" : "b", (await store.HolderAsync(CancellationToken.None))?.Id);
    }

    [Fact]
    public void Options_RenewIntervalOverAThirdOfTheTtl_IsRejected()
    {
        var result = new LeaseOptionsValidator().Validate(null, new LeaseOptions { Ttl = TimeSpan.FromSeconds(5), RenewInterval = TimeSpan.FromSeconds(2) });

        Assert.True(result.Failed);
        Assert.Contains("Watchdog:Lease:RenewInterval", result.FailureMessage, StringComparison.Ordinal);
    }

    /// <summary>One replica's path to the shared store, which can be cut.</summary>
    private sealed class FlakyStore(ILeaseStore inner) : ILeaseStore
    {
        public bool Unreachable { get; set; }

        public bool Shared => inner.Shared;

        public Task<bool> TryAcquireAsync(string holder, string? address, TimeSpan ttl, CancellationToken cancellationToken) =>
            Unreachable ? throw new TimeoutException() : inner.TryAcquireAsync(holder, address, ttl, cancellationToken);

        public Task<bool> RenewAsync(string holder, string? address, TimeSpan ttl, CancellationToken cancellationToken) =>
            Unreachable ? throw new TimeoutException() : inner.RenewAsync(holder, address, ttl, cancellationToken);

        public Task ReleaseAsync(string holder, CancellationToken cancellationToken) =>
            Unreachable ? throw new TimeoutException() : inner.ReleaseAsync(holder, cancellationToken);

        public Task<LeaseHolder?> HolderAsync(CancellationToken cancellationToken) =>
            Unreachable ? throw new TimeoutException() : inner.HolderAsync(cancellationToken);
    }
}
