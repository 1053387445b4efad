using Grpc.Core;
using Microsoft.Extensions.DependencyInjection;
using Platform.HealthScorer.Publishing;
using Platform.HealthScorer.Tests.Fixtures;
using HealthV1 = Platform.Health.V1;

namespace Platform.HealthScorer.Tests.Grpc;

/// <summary>GetFleet and WatchFleet over h2c on real sockets, against scripted engines.</summary>
public sealed class HealthScorerServiceTests : IAsyncLifetime
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private readonly List<ScriptedEngine> _engines = [];
    private HealthScorerHost _host = null!;

    public async ValueTask InitializeAsync()
    {
        for (var i = 0; i < 2; i++)
        {
            _engines.Add(await ScriptedEngine.StartAsync(ScrapeFixtures.Bytes(ScrapeFixtures.Vllm011)));
        }

        _host = await HealthScorerHost.StartAsync(HealthScorerHost.Configuration([.. _engines.Select(e => e.BaseUri)], speculativeTokens: 4));
    }

    public async ValueTask DisposeAsync()
    {
        await _host.DisposeAsync();
        foreach (var engine in _engines)
        {
            await engine.DisposeAsync();
        }
    }

    [Fact]
    public async Task GetFleet_EveryCatalogEngineWithItsPoolModelAndEndpoint()
    {
        var fleet = await _host.Client.GetFleetAsync(new HealthV1.GetFleetRequest(), cancellationToken: Ct);

        Assert.Equal(["enginegeneral-0", "enginegeneral-1"], fleet.Engines.Select(e => e.EngineId));
        Assert.All(fleet.Engines, e => Assert.Equal(("enginegeneral", "llama"), (e.Pool, e.Model)));
        Assert.Equal(_engines[1].BaseUri.AbsoluteUri.TrimEnd('/'), fleet.Engines[1].Endpoint);
        Assert.True(fleet.Sequence > 0);
    }

    [Fact]
    public async Task GetFleet_PoolFilter_OnlyThosePools()
    {
        var none = await _host.Client.GetFleetAsync(new HealthV1.GetFleetRequest { Pools = { "enginecode" } }, cancellationToken: Ct);
        var general = await _host.Client.GetFleetAsync(new HealthV1.GetFleetRequest { Pools = { "enginecode", "enginegeneral" } }, cancellationToken: Ct);

        Assert.Empty(none.Engines);
        Assert.Empty(none.Pools);
        Assert.Equal(2, general.Engines.Count);
        Assert.Equal(("enginegeneral", 2u), (Assert.Single(general.Pools).Pool, general.Pools[0].Engines));
    }

    [Fact]
    public async Task WatchFleet_FullSnapshotFirstThenOneAfterEveryRound()
    {
        using var call = _host.Client.WatchFleet(new HealthV1.WatchFleetRequest(), cancellationToken: Ct);
        var sequences = new List<ulong>();
        var started = DateTime.UtcNow;
        await foreach (var snapshot in call.ResponseStream.ReadAllAsync(Ct))
        {
            Assert.Equal(2, snapshot.Engines.Count);
            sequences.Add(snapshot.Sequence);
            if (sequences.Count == 5)
            {
                break;
            }
        }

        Assert.Equal(sequences.Order(), sequences);
        Assert.Equal(5, sequences.Distinct().Count());
        Assert.True(DateTime.UtcNow - started < TimeSpan.FromSeconds(5), "five snapshots at a 100 ms interval");
    }

    [Fact]
    public async Task WatchFleet_ReaderThatStopsReading_GetsTheNewestNotABacklog()
    {
        var hub = _host.Services.GetRequiredService<FleetSnapshotHub>();
        using var call = _host.Client.WatchFleet(new HealthV1.WatchFleetRequest(), cancellationToken: Ct);
        Assert.True(await call.ResponseStream.MoveNext(Ct));

        // The reader pauses while 5,000 snapshots are produced (far more than HTTP/2 flow control can hold).
        const int Published = 5_000;
        ulong last = 0;
        for (var i = 0; i < Published; i++)
        {
            last = hub.Publish(hub.Statuses).Sequence;
        }

        var received = 0;
        while (await call.ResponseStream.MoveNext(Ct))
        {
            received++;
            if (call.ResponseStream.Current.Sequence >= last)
            {
                break;
            }
        }

        TestContext.Current.TestOutputHelper?.WriteLine($"{Published} snapshots published while the reader paused; it then read {received} to reach the newest");
        Assert.True(received < Published / 10, $"received {received} of {Published}");
    }

    [Fact]
    public async Task WatchFleet_CallerCancels_SubscriptionReleased()
    {
        var hub = _host.Services.GetRequiredService<FleetSnapshotHub>();
        using (var cts = CancellationTokenSource.CreateLinkedTokenSource(Ct))
        {
            using var call = _host.Client.WatchFleet(new HealthV1.WatchFleetRequest(), cancellationToken: cts.Token);
            Assert.True(await call.ResponseStream.MoveNext(Ct));
            Assert.Equal(1, hub.SubscriberCount);
            await cts.CancelAsync();
        }

        await Poll.UntilAsync(() => hub.SubscriberCount == 0, TimeSpan.FromSeconds(5), "the subscription to be released");
    }

    [Fact]
    public async Task WatchFleet_PoolFilter_OnlyThosePools()
    {
        using var call = _host.Client.WatchFleet(new HealthV1.WatchFleetRequest { Pools = { "enginefallback" } }, cancellationToken: Ct);

        Assert.True(await call.ResponseStream.MoveNext(Ct));
        Assert.Empty(call.ResponseStream.Current.Engines);
        Assert.Empty(call.ResponseStream.Current.Pools);
        Assert.True(call.ResponseStream.Current.Sequence > 0);
    }
}
