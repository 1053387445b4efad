using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Platform.Fleet.Catalog;
using Platform.Fleet.State;
using Platform.Gateway.Health;
using Platform.Gateway.Routing;
using Platform.Gateway.Tests.Fixtures.Engines;

namespace Platform.Gateway.Tests.Health;

public sealed class EngineMetricsScraperTests
{
    private readonly FakeFleetState _state = new();
    private volatile string? _metrics = "vllm:kv_cache_usage_perc{engine=\"0\"} 0.1\n";
    private volatile bool _hang;
    private volatile bool _otherHangs;

    /// <summary>Engine p-0 answers as the fields say; p-1 (when there are two) answers 0.1 unless it hangs too.</summary>
    private async Task<(EngineMetricsScraper Scraper, IEngineHealthView View, IAsyncDisposable Server, IHost Host)> StartAsync(int engines = 1)
    {
        var server = await ScriptedEngineServer.StartAsync(async ctx =>
        {
            var other = ctx.Request.Path.StartsWithSegments("/other");
            if (other ? _otherHangs : _hang)
            {
                // Answers only when the scraper gives up (its timeout aborts the request).
                await Task.Delay(Timeout.Infinite, ctx.RequestAborted).ContinueWith(_ => { }, TaskScheduler.Default);
            }
            else if ((other ? "vllm:kv_cache_usage_perc{engine=\"0\"} 0.1\n" : _metrics) is { } text)
            {
                await ctx.Response.WriteAsync(text);
            }
            else
            {
                ctx.Response.StatusCode = 503;
            }
        });
        var catalog = new FakeCatalog([new ModelInfo("m", null, 4096, [FakeCatalog.Pool("p", "m", TaskAffinity.None, engines, uri: i => i == 0 ? server.BaseUri : new Uri(server.BaseUri, "other/"))])]);
        var host = EngineSideHost.Build(catalog, _state, settings: new Dictionary<string, string?>
        {
            ["Gateway:Health:UnreachableAfterFailures"] = "2",
            ["Gateway:Health:ScrapeTimeout"] = "00:00:00.500",
        });
        return (host.Services.GetRequiredService<EngineMetricsScraper>(), host.Services.GetRequiredService<IEngineHealthView>(), server, host);
    }

    [Fact]
    public async Task ScrapeAll_KvUsageCrossesThresholds_PressureWithHysteresisPublished()
    {
        var (scraper, view, server, host) = await StartAsync();
        await using var _ = server;
        using var __ = host;
        var ct = TestContext.Current.CancellationToken;

        await scraper.ScrapeAllAsync(ct);
        Assert.Equal(PressureState.Normal, view.Get("p-0")!.Pressure);

        _metrics = "vllm:kv_cache_usage_perc{engine=\"0\"} 0.95\nvllm:num_requests_waiting{engine=\"0\"} 3\n";
        await scraper.ScrapeAllAsync(ct);
        var pressured = view.Get("p-0")!;
        Assert.Equal(PressureState.UnderPressure, pressured.Pressure);
        Assert.Equal(3, pressured.Waiting);

        _metrics = "vllm:kv_cache_usage_perc{engine=\"0\"} 0.85\n";
        await scraper.ScrapeAllAsync(ct);
        Assert.Equal(PressureState.UnderPressure, view.Get("p-0")!.Pressure);

        _metrics = "vllm:kv_cache_usage_perc{engine=\"0\"} 0.5\n";
        await scraper.ScrapeAllAsync(ct);
        Assert.Equal(PressureState.Normal, view.Get("p-0")!.Pressure);

        Assert.Equal(
            [PressureState.Normal, PressureState.UnderPressure, PressureState.Normal],
            _state.Published.Select(e => e.Pressure).ToArray());
    }

    [Fact]
    public async Task ScrapeAll_FailedScrapes_UnreachableAfterThreshold()
    {
        var (scraper, view, server, host) = await StartAsync();
        await using var _ = server;
        using var __ = host;
        var ct = TestContext.Current.CancellationToken;
        await scraper.ScrapeAllAsync(ct);

        _metrics = null;
        await scraper.ScrapeAllAsync(ct);
        Assert.True(view.Get("p-0")!.Reachable);
        await scraper.ScrapeAllAsync(ct);
        Assert.False(view.Get("p-0")!.Reachable);
        Assert.False(_state.Published.Last().Reachable);

        _metrics = "vllm:kv_cache_usage_perc{engine=\"0\"} 0.2\n";
        await scraper.ScrapeAllAsync(ct);
        Assert.True(view.Get("p-0")!.Reachable);
    }

    [Fact]
    public async Task ScrapeAll_TimeoutsWhileRequestsInFlight_NotCountedUntilTheyEnd()
    {
        var (scraper, view, server, host) = await StartAsync(engines: 2);
        await using var _ = server;
        using var __ = host;
        var ct = TestContext.Current.CancellationToken;
        var inFlight = host.Services.GetRequiredService<IInFlightTracker>();
        await scraper.ScrapeAllAsync(ct);

        // /metrics of p-0 times out while this gateway streams from it: not the engine's fault as far as we know.
        _hang = true;
        using (inFlight.Track("p-0"))
        {
            for (var i = 0; i < 3; i++)
            {
                await scraper.ScrapeAllAsync(ct);
                Assert.True(view.Get("p-0")!.Reachable);
            }
        }

        // Nothing in flight, and p-1 answers in time: the same timeouts count.
        await scraper.ScrapeAllAsync(ct);
        await scraper.ScrapeAllAsync(ct);
        Assert.False(view.Get("p-0")!.Reachable);
        Assert.True(view.Get("p-1")!.Reachable);
        Assert.False(_state.Published.Last(e => e.EngineId == "p-0").Reachable);
    }

    [Fact]
    public async Task ScrapeAll_EveryScrapeTimesOut_NotCountedUntilAnotherEngineAnswers()
    {
        var (scraper, view, server, host) = await StartAsync(engines: 2);
        await using var _ = server;
        using var __ = host;
        var ct = TestContext.Current.CancellationToken;
        await scraper.ScrapeAllAsync(ct);

        // A starved host (or cold start): no engine answers within the timeout. Idle engines stay routable.
        _hang = true;
        _otherHangs = true;
        for (var i = 0; i < 3; i++)
        {
            await scraper.ScrapeAllAsync(ct);
            Assert.True(view.Get("p-0")!.Reachable);
            Assert.True(view.Get("p-1")!.Reachable);
        }

        // p-1 answers again: p-0's timeouts are its own.
        _otherHangs = false;
        await scraper.ScrapeAllAsync(ct);
        await scraper.ScrapeAllAsync(ct);
        Assert.False(view.Get("p-0")!.Reachable);
        Assert.True(view.Get("p-1")!.Reachable);
    }

    [Fact]
    public async Task ScrapeAll_ErrorStatusWhileRequestsInFlight_Counted()
    {
        var (scraper, view, server, host) = await StartAsync();
        await using var _ = server;
        using var __ = host;
        var ct = TestContext.Current.CancellationToken;
        using var lease = host.Services.GetRequiredService<IInFlightTracker>().Track("p-0");
        await scraper.ScrapeAllAsync(ct);

        _metrics = null;
        await scraper.ScrapeAllAsync(ct);
        await scraper.ScrapeAllAsync(ct);

        Assert.False(view.Get("p-0")!.Reachable);
    }
}
