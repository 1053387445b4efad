using System.Buffers.Binary;
using Google.Protobuf;
using Google.Protobuf.WellKnownTypes;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Platform.Fleet.Catalog;
using Platform.Gateway.Health;
using Platform.Gateway.Routing;
using Platform.Gateway.Tests.Fixtures.Engines;
using Platform.Health.V1;
using FleetPressure = Platform.Fleet.State.PressureState;

namespace Platform.Gateway.Tests.Health;

public sealed class HealthScorerWatcherTests
{
    /// <summary>A WatchFleet endpoint over h2c: one snapshot, then the stream stays open until the caller leaves.</summary>
    private static Task<ScriptedEngineServer> ScorerServer(FleetSnapshot snapshot) =>
        ScriptedEngineServer.StartAsync(async ctx =>
        {
            var payload = snapshot.ToByteArray();
            var frame = new byte[5 + payload.Length];
            BinaryPrimitives.WriteUInt32BigEndian(frame.AsSpan(1), (uint)payload.Length);
            payload.CopyTo(frame, 5);
            ctx.Response.ContentType = "application/grpc";
            ctx.Response.AppendTrailer("grpc-status", "0");
            await ctx.Response.Body.WriteAsync(frame);
            await ctx.Response.Body.FlushAsync();
            await Task.Delay(Timeout.Infinite, ctx.RequestAborted).ContinueWith(_ => { }, TaskScheduler.Default);
        }, http2: true);

    [Fact]
    public async Task WatchFleet_SnapshotArrives_ViewAndRoutingFollowTheScorer()
    {
        var snapshot = new FleetSnapshot { Sequence = 1, ProducedAt = Timestamp.FromDateTimeOffset(DateTimeOffset.UtcNow) };
        snapshot.Engines.Add(new EngineHealth { EngineId = "p-0", Score = 5, Pressure = PressureState.UnderPressure, Reachable = true, KvCacheUsage = 0.95, Waiting = 7 });
        snapshot.Engines.Add(new EngineHealth { EngineId = "p-1", Score = 90, Pressure = PressureState.Normal, Reachable = true, KvCacheUsage = 0.1 });
        await using var scorer = await ScorerServer(snapshot);
        var catalog = new FakeCatalog([new ModelInfo("m", null, 4096, [FakeCatalog.Pool("p", "m", TaskAffinity.General, 2)])]);
        using var host = EngineSideHost.Build(catalog, new FakeFleetState(), settings: new Dictionary<string, string?>
        {
            ["services:healthscorer:grpc:0"] = scorer.BaseUri.ToString(),
        });
        await host.StartAsync(TestContext.Current.CancellationToken);
        var view = host.Services.GetRequiredService<EngineHealthView>();

        await Poll.UntilAsync(() => view.Get("p-0") is { Pressure: FleetPressure.UnderPressure, Waiting: 7 }, TimeSpan.FromSeconds(10), "the scorer's snapshot in the view");

        Assert.True(view.HealthScorerLive(TimeSpan.FromSeconds(3)));
        Assert.Equal(90, view.Get("p-1")!.Score);
        var router = host.Services.GetRequiredService<IEngineRouter>();
        Assert.All(Enumerable.Range(0, 10), _ => Assert.Equal("p-1", router.Route(new RoutingRequest("m", Classifier.V1.TaskKind.General, null, [], false))!.Engine.Id));
        await host.StopAsync(TestContext.Current.CancellationToken);
    }

    [Fact]
    public async Task WatchFleet_NoAddress_ScorerNeverLive()
    {
        var catalog = new FakeCatalog([new ModelInfo("m", null, 4096, [FakeCatalog.Pool("p", "m", TaskAffinity.General, 1)])]);
        using var host = EngineSideHost.Build(catalog, new FakeFleetState());
        await host.StartAsync(TestContext.Current.CancellationToken);

        Assert.False(host.Services.GetRequiredService<EngineHealthView>().HealthScorerLive(TimeSpan.FromSeconds(3)));
        await host.StopAsync(TestContext.Current.CancellationToken);
    }
}
