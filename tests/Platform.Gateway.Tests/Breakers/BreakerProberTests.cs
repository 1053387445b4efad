using System.Text.Json;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Platform.Fleet.Catalog;
using Platform.Fleet.State;
using Platform.Gateway.Breakers;
using Platform.Gateway.Tests.Fixtures.Engines;

namespace Platform.Gateway.Tests.Breakers;

public sealed class BreakerProberTests
{
    private readonly FakeFleetState _state = new();

    private (BreakerProber Prober, BreakerRecorder Recorder, IDisposable Host) Build(Uri engine)
    {
        var catalog = new FakeCatalog([new ModelInfo("m", null, 4096, [FakeCatalog.Pool("p", "m", TaskAffinity.None, 1, uri: _ => engine)])]);
        var host = EngineSideHost.Build(catalog, _state, settings: new Dictionary<string, string?> { ["Gateway:Breakers:ProbeTimeout"] = "00:00:05" });
        return (host.Services.GetRequiredService<BreakerProber>(), host.Services.GetRequiredService<BreakerRecorder>(), host);
    }

    [Fact]
    public async Task ProbeHalfOpen_EngineGenerates_ClosesBreakerWithOneTokenProbe()
    {
        JsonElement? probe = null;
        string? path = null;
        await using var server = await ScriptedEngineServer.StartAsync(async ctx =>
        {
            path = ctx.Request.Path;
            probe = (await JsonDocument.ParseAsync(ctx.Request.Body)).RootElement.Clone();
            await ctx.Response.WriteAsJsonAsync(new { id = "cmpl-1", choices = Array.Empty<object>() });
        });
        var (prober, _, host) = Build(server.BaseUri);
        using var _ = host;
        _state.SetBreaker("p-0", BreakerState.HalfOpen);

        var probed = await prober.ProbeHalfOpenAsync(TestContext.Current.CancellationToken);

        Assert.Equal(1, probed);
        Assert.Equal(BreakerState.Closed, _state.GetBreaker("p-0").State);
        Assert.Equal("/v1/completions", path);
        Assert.Equal(1, probe!.Value.GetProperty("max_tokens").GetInt32());
        Assert.Equal("m", probe.Value.GetProperty("model").GetString());
    }

    [Fact]
    public async Task ProbeHalfOpen_EngineStillFailing_ReopensBreaker()
    {
        await using var server = await ScriptedEngineServer.StartAsync(ctx =>
        {
            ctx.Response.StatusCode = 500;
            return Task.CompletedTask;
        });
        var (prober, _, host) = Build(server.BaseUri);
        using var _ = host;
        _state.SetBreaker("p-0", BreakerState.HalfOpen);

        await prober.ProbeHalfOpenAsync(TestContext.Current.CancellationToken);

        Assert.Equal(BreakerState.Open, _state.GetBreaker("p-0").State);
    }

    [Fact]
    public async Task ProbeHalfOpen_LeaseHeldByAnotherReplica_SendsNothing()
    {
        var calls = 0;
        await using var server = await ScriptedEngineServer.StartAsync(ctx =>
        {
            Interlocked.Increment(ref calls);
            return Task.CompletedTask;
        });
        var (prober, _, host) = Build(server.BaseUri);
        using var _ = host;
        _state.SetBreaker("p-0", BreakerState.HalfOpen);
        Assert.True(await _state.TryAcquireProbeLeaseAsync("p-0", TestContext.Current.CancellationToken));

        Assert.Equal(0, await prober.ProbeHalfOpenAsync(TestContext.Current.CancellationToken));
        Assert.Equal(0, calls);
        Assert.Equal(BreakerState.HalfOpen, _state.GetBreaker("p-0").State);
    }

    [Fact]
    public async Task ProbeHalfOpen_ClosedOrOpenBreaker_IsNotProbed()
    {
        var (prober, _, host) = Build(new Uri("http://127.0.0.1:9/"));
        using var _ = host;
        _state.SetBreaker("p-0", BreakerState.Open);

        Assert.Equal(0, await prober.ProbeHalfOpenAsync(TestContext.Current.CancellationToken));
    }

    [Fact]
    public async Task Record_IgnoredOutcome_NeverReachesTheBreaker_FailuresOpenIt()
    {
        var (_, recorder, host) = Build(new Uri("http://127.0.0.1:9/"));
        using var _ = host;

        recorder.Record("p-0", EngineOutcome.Ignored, null);
        recorder.Record("p-0", EngineOutcome.Ignored, null);
        recorder.Record("p-0", EngineOutcome.Ignored, null);
        Assert.Empty(_state.Outcomes);

        for (var i = 0; i < 3; i++)
        {
            recorder.Record("p-0", EngineOutcome.Failure, "test");
        }

        await Poll.UntilAsync(() => _state.GetBreaker("p-0").State == BreakerState.Open, TimeSpan.FromSeconds(5), "the breaker to open");
    }
}
