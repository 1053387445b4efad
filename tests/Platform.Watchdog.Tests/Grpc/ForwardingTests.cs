using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using Grpc.Core;
using Grpc.Net.Client;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Platform.Fleet.Catalog;
using Platform.Fleet.Redis;
using Platform.Fleet.State;
using Platform.Watchdog.Actions;
using Platform.Watchdog.Grpc;
using Platform.Watchdog.Orchestrators;
using Platform.Watchdog.Probing;
using Platform.Watchdog.Tests.Fixtures;
using Platform.Watchdog.V1;
using StackExchange.Redis;

namespace Platform.Watchdog.Tests.Grpc;

/// <summary>
/// Two watchdog replicas, each a whole <c>AddWatchdog()</c> host serving h2c on its own dynamic port, sharing one real
/// redis-server for the lease and the restart state: operator actions sent to the follower are answered by the leader.
/// </summary>
public sealed class ForwardingTests
{
    private const string Key = "sk-admin-forwarding-test";

    private static Metadata Admin => new() { { "authorization", "Bearer " + Key } };

    [Fact]
    public async Task OperatorActions_OnTheFollower_AreForwardedToTheLeader_OrRefusedNamingAnUnreachableLeader()
    {
        var ct = TestContext.Current.CancellationToken;
        await using var redis = await RedisServer.StartAsync();
        using var multiplexer = await ConnectionMultiplexer.ConnectAsync(redis.ConnectionString);
        var db = multiplexer.GetDatabase();

        // A leader that accepts connections and never answers holds the lease: the follower gives up at its deadline.
        using var blackhole = new TcpListener(IPAddress.Loopback, 0);
        blackhole.Start();
        var held = new List<TcpClient>();
        _ = Task.Run(async () =>
        {
            while (true)
            {
                try
                {
                    held.Add(await blackhole.AcceptTcpClientAsync(ct));
                }
                catch (Exception ex) when (ex is OperationCanceledException or SocketException or ObjectDisposedException)
                {
                    return;
                }
            }
        }, CancellationToken.None);
        var blackholeAddress = $"http://127.0.0.1:{((IPEndPoint)blackhole.LocalEndpoint).Port}";
        await db.StringSetAsync("platform:watchdog:leader", "ghost", TimeSpan.FromMinutes(2));
        await db.StringSetAsync("platform:watchdog:leader:grpc", blackholeAddress, TimeSpan.FromMinutes(2));

        await using var b = await Replica.StartAsync(redis.ConnectionString, "b");
        await Poll.UntilAsync(async () => (await b.Client.GetStatusAsync(new GetStatusRequest(), cancellationToken: ct)) is { Leader: false, LeaderId: "ghost" } s && s.LeaderAddress == blackholeAddress, TimeSpan.FromSeconds(30), "b to see the ghost leader");

        var clock = Stopwatch.StartNew();
        var unanswered = await Assert.ThrowsAsync<RpcException>(async () => await b.Client.DrainAsync(new EngineActionRequest { EngineId = "general-0" }, Admin, cancellationToken: ct));
        var waited = clock.Elapsed;
        TestContext.Current.TestOutputHelper!.WriteLine($"leader that never answers: {unanswered.StatusCode} after {waited.TotalMilliseconds:0} ms: {unanswered.Status.Detail}");
        Assert.Equal(StatusCode.Unavailable, unanswered.StatusCode);
        Assert.Contains($"the leader ghost at {blackholeAddress} did not answer", unanswered.Status.Detail, StringComparison.Ordinal);
        Assert.InRange(waited, TimeSpan.FromSeconds(0.9), TimeSpan.FromSeconds(10));

        // A leader whose port is closed: refused at once, naming it.
        using var closed = new TcpListener(IPAddress.Loopback, 0);
        closed.Start();
        var closedAddress = $"http://127.0.0.1:{((IPEndPoint)closed.LocalEndpoint).Port}";
        closed.Stop();
        await db.StringSetAsync("platform:watchdog:leader:grpc", closedAddress, TimeSpan.FromMinutes(2));
        await Poll.UntilAsync(async () => (await b.Client.GetStatusAsync(new GetStatusRequest(), cancellationToken: ct)).LeaderAddress == closedAddress, TimeSpan.FromSeconds(30), "b to see the new address");
        var refused = await Assert.ThrowsAsync<RpcException>(async () => await b.Client.RestartAsync(new EngineActionRequest { EngineId = "general-0" }, Admin, cancellationToken: ct));
        Assert.Equal(StatusCode.Unavailable, refused.StatusCode);
        Assert.Contains($"the leader ghost at {closedAddress} did not answer", refused.Status.Detail, StringComparison.Ordinal);

        // The ghost goes; b leads, publishes its own address, and a joins as a follower.
        await db.KeyDeleteAsync(["platform:watchdog:leader", "platform:watchdog:leader:grpc"]);
        await Poll.UntilAsync(async () => (await b.Client.GetStatusAsync(new GetStatusRequest(), cancellationToken: ct)) is { Leader: true } s && s.LeaderAddress == b.Address, TimeSpan.FromSeconds(30), "b to lead");
        await using var a = await Replica.StartAsync(redis.ConnectionString, "a");
        await Poll.UntilAsync(async () => (await a.Client.GetStatusAsync(new GetStatusRequest(), cancellationToken: ct)) is { Leader: false, LeaderId: "b" } s && s.LeaderAddress == b.Address, TimeSpan.FromSeconds(30), "a to follow b");
        var catalog = b.Services.GetRequiredService<IFleetCatalog>();
        b.Services.GetRequiredService<EngineCoordinator>().OnSnapshot(catalog.Engines.Select(e => Observations.Healthy(e.Id, DateTimeOffset.UtcNow, e.Pool)).ToList());

        // Drain, Undrain and Restart sent to the follower a are the leader b's.
        clock.Restart();
        var drained = await a.Client.DrainAsync(new EngineActionRequest { EngineId = "general-0", Reason = "disk" }, Admin, cancellationToken: ct);
        TestContext.Current.TestOutputHelper!.WriteLine($"forwarded Drain answered in {clock.Elapsed.TotalMilliseconds:0} ms");
        Assert.Equal(EventKind.DrainStarted, drained.Event.Kind);
        Assert.Equal("disk", drained.Event.Reason);
        Assert.True(b.Fleet.IsDraining("general-0"));
        Assert.False(a.Fleet.IsDraining("general-0"));
        Assert.Contains((await b.Client.ListEventsAsync(new ListEventsRequest { EngineId = "general-0" }, cancellationToken: ct)).Events, e => e.Sequence == drained.Event.Sequence);
        Assert.Empty((await a.Client.ListEventsAsync(new ListEventsRequest { EngineId = "general-0" }, cancellationToken: ct)).Events);

        var undrained = await a.Client.UndrainAsync(new EngineActionRequest { EngineId = "general-0" }, Admin, cancellationToken: ct);
        Assert.Equal(EventKind.Undrained, undrained.Event.Kind);
        Assert.False(b.Fleet.IsDraining("general-0"));

        var restarted = await a.Client.RestartAsync(new EngineActionRequest { EngineId = "general-1", Reason = "upgrade" }, Admin, cancellationToken: ct);
        Assert.Equal(EventKind.DrainStarted, restarted.Event.Kind);
        await Poll.UntilAsync(() => b.Restarter.Restarts.Contains("general-1"), TimeSpan.FromSeconds(30), "the leader to restart general-1");
        Assert.Empty(a.Restarter.Restarts);

        // The leader's refusals come back with their status, saying who answered.
        var budget = await Assert.ThrowsAsync<RpcException>(async () => await a.Client.RestartAsync(new EngineActionRequest { EngineId = "code-0" }, Admin, cancellationToken: ct));
        Assert.Equal(StatusCode.FailedPrecondition, budget.StatusCode);
        Assert.StartsWith("from the leader b: disruption budget", budget.Status.Detail, StringComparison.Ordinal);

        // The follower checks the key and the input itself: nothing reaches the leader without them.
        var eventsBefore = (await b.Client.ListEventsAsync(new ListEventsRequest(), cancellationToken: ct)).Events.Count;
        Assert.Equal(StatusCode.Unauthenticated, (await Assert.ThrowsAsync<RpcException>(async () =>
            await a.Client.DrainAsync(new EngineActionRequest { EngineId = "general-0" }, new Metadata { { "authorization", "Bearer sk-wrong" } }, cancellationToken: ct))).StatusCode);
        Assert.Equal(StatusCode.InvalidArgument, (await Assert.ThrowsAsync<RpcException>(async () =>
            await a.Client.DrainAsync(new EngineActionRequest { EngineId = "" }, Admin, cancellationToken: ct))).StatusCode);
        Assert.Equal(StatusCode.NotFound, (await Assert.ThrowsAsync<RpcException>(async () =>
            await a.Client.DrainAsync(new EngineActionRequest { EngineId = "general-9" }, Admin, cancellationToken: ct))).StatusCode);
        Assert.Equal(eventsBefore, (await b.Client.ListEventsAsync(new ListEventsRequest(), cancellationToken: ct)).Events.Count);

        // A call that was forwarded already is not forwarded again (leadership changing hands cannot make a loop).
        var headers = Admin;
        headers.Add(LeaderForwarder.ForwardedHeader, "c");
        var again = await Assert.ThrowsAsync<RpcException>(async () => await a.Client.DrainAsync(new EngineActionRequest { EngineId = "general-0" }, headers, cancellationToken: ct));
        Assert.Equal(StatusCode.Unavailable, again.StatusCode);
        Assert.Contains("already forwarded (by c)", again.Status.Detail, StringComparison.Ordinal);
        Assert.Contains("leader: b", again.Status.Detail, StringComparison.Ordinal);

        foreach (var client in held)
        {
            client.Dispose();
        }
    }

    /// <summary>One watchdog replica: <c>AddWatchdog()</c> on fakes for the engines, real Redis, h2c on a dynamic port.</summary>
    private sealed class Replica : IAsyncDisposable
    {
        private readonly WebApplication _app;
        private readonly GrpcChannel _channel;

        private Replica(WebApplication app, string address)
        {
            _app = app;
            Address = address;
            _channel = GrpcChannel.ForAddress(address);
            Client = new V1.Watchdog.WatchdogClient(_channel);
        }

        public string Address { get; }

        public V1.Watchdog.WatchdogClient Client { get; }

        public IServiceProvider Services => _app.Services;

        public FakeFleetState Fleet => (FakeFleetState)_app.Services.GetRequiredService<IFleetState>();

        public FakeRestarter Restarter => (FakeRestarter)_app.Services.GetRequiredService<IEngineRestarter>();

        public static async Task<Replica> StartAsync(string redis, string replicaId)
        {
            var builder = WebApplication.CreateSlimBuilder();
            builder.Configuration.Sources.Clear();
            builder.Configuration.AddInMemoryCollection(new Dictionary<string, string?>
            {
                ["ConnectionStrings:redis"] = redis,
                ["Watchdog:Admin:Key"] = Key,
                ["Watchdog:Lease:ReplicaId"] = replicaId,
                ["Watchdog:Lease:Ttl"] = "00:00:03",
                ["Watchdog:Lease:RenewInterval"] = "00:00:00.250",
                ["Watchdog:Forwarding:Timeout"] = "00:00:01",
                ["Watchdog:DrainMinimum"] = "00:00:00",
            });
            builder.Logging.ClearProviders();
            builder.WebHost.ConfigureKestrel(k => k.Listen(IPAddress.Loopback, 0, o => o.Protocols = HttpProtocols.Http2));
            builder.Services.AddGrpc();
            builder.Services.AddSingleton<IFleetCatalog>(new FakeCatalog(("general", 2), ("code", 1)));
            builder.Services.AddSingleton<IFleetState, FakeFleetState>();
            builder.Services.AddSingleton<IEngineProbe, FakeProbe>();
            builder.Services.AddSingleton<IEngineRestarter, FakeRestarter>();
            builder.Services.AddSingleton(new FleetRedisConnection(redis, NullLogger<FleetRedisConnection>.Instance));
            builder.Services.AddOptions<FleetStateOptions>();
            builder.AddWatchdog();
            var app = builder.Build();
            app.MapGrpcService<WatchdogService>();
            await app.StartAsync(TestContext.Current.CancellationToken);
            var address = app.Services.GetRequiredService<Microsoft.AspNetCore.Hosting.Server.IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.Single().TrimEnd('/');
            return new Replica(app, address);
        }

        public async ValueTask DisposeAsync()
        {
            _channel.Dispose();
            await _app.StopAsync(CancellationToken.None);
            await _app.DisposeAsync();
        }
    }
}
