using Microsoft.Extensions.Time.Testing;
using Platform.Fleet.Catalog;
using Platform.HealthScorer.Publishing;
using Platform.HealthScorer.Scoring;
using Platform.HealthScorer.Telemetry;

namespace Platform.HealthScorer.Tests.Publishing;

public sealed class FleetSnapshotHubTests
{
    private static readonly EngineStatus[] Statuses =
    [
        new EngineStatus { Engine = new EngineInfo("e-0", "pool", "m", new Uri("http://127.0.0.1:1/")), Reachable = true, Score = 80 },
    ];

    private static FleetSnapshotHub Hub() => new(new FakeTimeProvider(DateTimeOffset.UnixEpoch.AddDays(1)), new HealthScorerMetrics());

    [Fact]
    public async Task Publish_SlowSubscriber_GetsOnlyTheNewestNeverABacklog()
    {
        var hub = Hub();
        using var subscription = hub.Subscribe();

        for (var i = 0; i < 1000; i++)
        {
            hub.Publish(Statuses);
        }

        Assert.True(subscription.Reader.TryRead(out var only));
        Assert.Equal(1000UL, only.Sequence);
        Assert.False(subscription.Reader.TryRead(out _));
        hub.Publish(Statuses);
        Assert.Equal(1001UL, (await subscription.Reader.ReadAsync(TestContext.Current.CancellationToken)).Sequence);
    }

    [Fact]
    public void Subscribe_AfterAPublish_StartsWithTheLatest()
    {
        var hub = Hub();
        Assert.False(hub.FirstSnapshot.IsCompleted);
        hub.Publish(Statuses);
        hub.Publish(Statuses);

        using var subscription = hub.Subscribe();

        Assert.True(hub.FirstSnapshot.IsCompleted);
        Assert.True(subscription.Reader.TryRead(out var first));
        Assert.Equal(2UL, first.Sequence);
        var engine = Assert.Single(first.Engines);
        Assert.Equal(("e-0", "pool", "http://127.0.0.1:1", 80.0), (engine.EngineId, engine.Pool, engine.Endpoint, engine.Score));
        Assert.Equal(DateTimeOffset.UnixEpoch.AddDays(1), first.ProducedAt.ToDateTimeOffset());
    }

    [Fact]
    public async Task Complete_EndsEverySubscriptionAfterItsPendingSnapshot()
    {
        var hub = Hub();
        using var a = hub.Subscribe();
        hub.Publish(Statuses);

        hub.Complete();
        using var late = hub.Subscribe();

        Assert.Equal(1UL, (await a.Reader.ReadAsync(TestContext.Current.CancellationToken)).Sequence);
        await a.Reader.Completion.WaitAsync(TimeSpan.FromSeconds(5), TestContext.Current.CancellationToken);
        Assert.True(late.Reader.TryRead(out _));
        await late.Reader.Completion.WaitAsync(TimeSpan.FromSeconds(5), TestContext.Current.CancellationToken);
        Assert.Equal(0, hub.SubscriberCount);
    }

    [Fact]
    public void Dispose_Unsubscribes()
    {
        var hub = Hub();
        var a = hub.Subscribe();
        using var b = hub.Subscribe();
        Assert.Equal(2, hub.SubscriberCount);

        a.Dispose();

        Assert.Equal(1, hub.SubscriberCount);
        Assert.True(a.Reader.Completion.IsCompleted);
    }

    [Fact]
    public void ToProto_UnknownValuesStayNaNAndMissingSeriesListed()
    {
        var status = Statuses[0] with { MissingSeries = ["vllm:kv_cache_usage_perc"], Generation = MetricGeneration.V0, ObservedAt = null };

        var proto = FleetSnapshotHub.ToProto(status);

        Assert.True(double.IsNaN(proto.KvCacheUsage));
        Assert.True(double.IsNaN(proto.TtftP95Seconds));
        Assert.Equal(["vllm:kv_cache_usage_perc"], proto.MissingSeries);
        Assert.Equal(Platform.Health.V1.MetricGeneration.V0, proto.MetricGeneration);
        Assert.Null(proto.ObservedAt);
    }

    [Fact]
    public void Publish_PoolsAggregatedFromTheirEnginesDeltas()
    {
        var hub = Hub();
        EngineStatus Spec(string id, string pool, double draftTokens, double accepted) =>
            new() { Engine = new EngineInfo(id, pool, "m", new Uri("http://127.0.0.1:1/")), Reachable = true, SpecDrafts = draftTokens / 4, SpecDraftTokens = draftTokens, SpecAcceptedTokens = accepted };

        var snapshot = hub.Publish([Spec("code-0", "code", 400, 240), Spec("general-0", "general", 800, 200), Spec("general-1", "general", 200, 150)]);

        Assert.Equal(["code", "general"], snapshot.Pools.Select(p => p.Pool));
        var general = snapshot.Pools[1];
        Assert.Equal((2u, 2u), (general.Engines, general.HealthyEngines));
        Assert.Equal(350.0 / 1000, general.SpecAcceptanceRate, 9);
        Assert.Equal(1 + (350.0 / 250), general.SpecMeanAcceptanceLength, 9);
        Assert.Equal((1000.0, 350.0, 250.0), (general.SpecDraftTokens, general.SpecAcceptedTokens, general.SpecDrafts));
        Assert.Equal(0.6, snapshot.Pools[0].SpecAcceptanceRate, 9);
        Assert.Equal(["code", "general"], hub.Pools.Select(p => p.Pool));
    }
}
