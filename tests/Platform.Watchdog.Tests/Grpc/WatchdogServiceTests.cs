using Grpc.Core;
using Grpc.Net.Client;
using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using Platform.Watchdog.Actions;
using Platform.Watchdog.Detection;
using Platform.Watchdog.Events;
using Platform.Watchdog.Grpc;
using Platform.Watchdog.Tests.Fixtures;
using Platform.Watchdog.V1;

namespace Platform.Watchdog.Tests.Grpc;

/// <summary>The gRPC service over real HTTP/2 sockets (h2c on Kestrel), with the coordinator on fakes.</summary>
public sealed class WatchdogServiceTests : IAsyncLifetime
{
    private const string Key = "sk-admin-test-1234";

    private readonly FakeLeadership _leadership = new();
    private readonly FakeCatalog _catalog = new(("general", 2), ("code", 1));
    private TestServer _server = null!;
    private GrpcChannel _channel = null!;

    private V1.Watchdog.WatchdogClient Client => new(_channel);

    private static Metadata Admin(string key = Key) => new() { { "authorization", "Bearer " + key } };

    public async ValueTask InitializeAsync() => (_server, _channel) = await StartAsync(new AdminOptions { Key = Key });

    public async ValueTask DisposeAsync()
    {
        _channel.Dispose();
        await _server.DisposeAsync();
    }

    private async Task<(TestServer, GrpcChannel)> StartAsync(AdminOptions admin)
    {
        var server = await TestServer.StartAsync(
            services =>
            {
                services.AddGrpc();
                services.AddSingleton(TimeProvider.System);
                services.AddSingleton<EventLog>();
                services.AddSingleton<ILeadership>(_leadership);
                services.AddSingleton(new AdminKey(Options.Create(admin)));
                services.AddSingleton(Options.Create(new ForwardingOptions()));
                services.AddSingleton<LeaderForwarder>();
                services.AddSingleton(sp => new EngineCoordinator(
                    _catalog, new FakeFleetState(), new FakeProbe(), new FakeRestarter(), sp.GetRequiredService<EventLog>(), _leadership,
                    Array.Empty<IDegradationDetector>(), Options.Create(new WatchdogOptions { DrainMinimum = TimeSpan.Zero }),
                    Options.Create(new BudgetOptions()), Options.Create(new HungDetectorOptions()), TimeProvider.System, NullLogger<EngineCoordinator>.Instance));
            },
            app => app.MapGrpcService<WatchdogService>(),
            http2: true);
        var coordinator = server.Services.GetRequiredService<EngineCoordinator>();
        coordinator.OnSnapshot(_catalog.Engines.Select(e => Observations.Healthy(e.Id, DateTimeOffset.UtcNow, e.Pool)).ToList());
        return (server, GrpcChannel.ForAddress(server.BaseUri));
    }

    private static async Task<StatusCode> StatusOf(Func<Task> call)
    {
        var ex = await Assert.ThrowsAsync<RpcException>(call);
        return ex.StatusCode;
    }

    [Fact]
    public async Task OperatorActions_WithoutOrWithAWrongKey_AreUnauthenticated()
    {
        var request = new EngineActionRequest { EngineId = "general-0" };

        Assert.Equal(StatusCode.Unauthenticated, await StatusOf(async () => await Client.DrainAsync(request)));
        Assert.Equal(StatusCode.Unauthenticated, await StatusOf(async () => await Client.RestartAsync(request, Admin("sk-wrong"))));
        Assert.Equal(StatusCode.Unauthenticated, await StatusOf(async () => await Client.UndrainAsync(request, new Metadata { { "authorization", Key } })));
    }

    [Fact]
    public async Task OperatorActions_NoAdminKeyConfigured_ArePermissionDenied()
    {
        var (server, channel) = await StartAsync(new AdminOptions());
        await using (server)
        using (channel)
        {
            var ex = await Assert.ThrowsAsync<RpcException>(async () => await new V1.Watchdog.WatchdogClient(channel).RestartAsync(new EngineActionRequest { EngineId = "general-0" }, Admin()));

            Assert.Equal(StatusCode.PermissionDenied, ex.StatusCode);
            Assert.Contains("Watchdog:Admin:Key", ex.Status.Detail, StringComparison.Ordinal);
        }
    }

    [Theory]
    [InlineData("", "x", "engine_id is required")]
    [InlineData("general-0", "a\u0007b", "control characters")]
    [InlineData("general-0", "LONG", "longer than 512")]
    public async Task OperatorActions_BadInput_IsInvalidArgument(string engine, string reason, string detail)
    {
        var request = new EngineActionRequest { EngineId = engine, Reason = reason == "LONG" ? new string('r', 513) : reason };

        var ex = await Assert.ThrowsAsync<RpcException>(async () => await Client.RestartAsync(request, Admin()));

        Assert.Equal(StatusCode.InvalidArgument, ex.StatusCode);
        Assert.Contains(detail, ex.Status.Detail, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Restart_UnknownEngine_IsNotFound_LastHealthyIsFailedPrecondition_ForcedStarts()
    {
        Assert.Equal(StatusCode.NotFound, await StatusOf(async () => await Client.RestartAsync(new EngineActionRequest { EngineId = "general-9" }, Admin())));

        var refused = await Assert.ThrowsAsync<RpcException>(async () => await Client.RestartAsync(new EngineActionRequest { EngineId = "code-0", Reason = "upgrade" }, Admin()));
        Assert.Equal(StatusCode.FailedPrecondition, refused.StatusCode);
        Assert.Contains("disruption budget", refused.Status.Detail, StringComparison.Ordinal);

        var started = await Client.RestartAsync(new EngineActionRequest { EngineId = "code-0", Reason = "upgrade", Force = true }, Admin());
        Assert.Equal(EventKind.DrainStarted, started.Event.Kind);
        Assert.Equal("operator", started.Event.Source);
        Assert.Contains("upgrade", started.Event.Reason, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Actions_OnAFollower_AreUnavailableNamingTheLeader()
    {
        _leadership.IsLeader = false;
        _leadership.Holder = "watchdog-host-7";

        var ex = await Assert.ThrowsAsync<RpcException>(async () => await Client.DrainAsync(new EngineActionRequest { EngineId = "general-0" }, Admin()));

        Assert.Equal(StatusCode.Unavailable, ex.StatusCode);
        Assert.Contains("watchdog-host-7", ex.Status.Detail, StringComparison.Ordinal);
        Assert.False((await Client.GetStatusAsync(new GetStatusRequest())).Leader);
    }

    [Fact]
    public async Task DrainThenUndrain_AreEventsThatListAndWatchShow()
    {
        var ct = TestContext.Current.CancellationToken;
        // Replay covers the moment between the call and the server's subscription (both taken under one lock: no gap, no duplicate).
        using var watch = Client.WatchEvents(new WatchEventsRequest { Replay = 10 }, cancellationToken: ct);

        var drained = await Client.DrainAsync(new EngineActionRequest { EngineId = "general-0", Reason = "disk" }, Admin(), cancellationToken: ct);
        var again = await Client.DrainAsync(new EngineActionRequest { EngineId = "general-0", Reason = "disk" }, Admin(), cancellationToken: ct);
        var status = await Client.GetStatusAsync(new GetStatusRequest(), cancellationToken: ct);
        var undrained = await Client.UndrainAsync(new EngineActionRequest { EngineId = "general-0" }, Admin(), cancellationToken: ct);

        Assert.Equal(drained.Event.Sequence, again.Event.Sequence);
        Assert.Equal(EngineState.Draining, status.Engines.Single(e => e.EngineId == "general-0").State);
        Assert.True(status.Leader);
        Assert.Equal(3, status.Engines.Count);
        Assert.True(await watch.ResponseStream.MoveNext(ct));
        Assert.Equal(EventKind.DrainStarted, watch.ResponseStream.Current.Kind);
        Assert.True(await watch.ResponseStream.MoveNext(ct));
        Assert.Equal(EventKind.Undrained, watch.ResponseStream.Current.Kind);
        Assert.Equal("operator request", watch.ResponseStream.Current.Reason);

        var listed = await Client.ListEventsAsync(new ListEventsRequest { EngineId = "general-0" }, cancellationToken: ct);
        Assert.Equal([drained.Event.Sequence, undrained.Event.Sequence], listed.Events.Select(e => e.Sequence));

        using var replay = Client.WatchEvents(new WatchEventsRequest { Replay = 1 }, cancellationToken: ct);
        Assert.True(await replay.ResponseStream.MoveNext(ct));
        Assert.Equal(undrained.Event.Sequence, replay.ResponseStream.Current.Sequence);
    }

    [Theory]
    [InlineData(-1)]
    [InlineData(1001)]
    public async Task ListAndWatch_OutOfRange_AreInvalidArgument(int value)
    {
        Assert.Equal(StatusCode.InvalidArgument, await StatusOf(async () => await Client.ListEventsAsync(new ListEventsRequest { Limit = value })));
        using var watch = Client.WatchEvents(new WatchEventsRequest { Replay = value });
        Assert.Equal(StatusCode.InvalidArgument, await StatusOf(() => watch.ResponseStream.MoveNext(TestContext.Current.CancellationToken)));
    }

    [Fact]
    public void EventLog_SlowSubscriber_LosesTheOldestNeverBlocks()
    {
        var log = new EventLog(TimeProvider.System);
        using var subscription = log.Subscribe(0);

        for (var i = 0; i < EventLog.SubscriberCapacity + 50; i++)
        {
            log.Record(EventKind.Detected, "general-0", "general", "test", i.ToString(System.Globalization.CultureInfo.InvariantCulture));
        }

        Assert.True(subscription.Reader.TryRead(out var first));
        Assert.Equal(51UL, first.Sequence);
        Assert.Equal(EventLog.SubscriberCapacity - 1, subscription.Reader.Count);
    }
}
