using System.Net.Http.Json;
using Microsoft.Extensions.DependencyInjection;
using Platform.Fleet.State;
using Platform.Gateway.Health;
using Platform.Gateway.Pipeline;
using Platform.Gateway.Routing;
using Platform.Gateway.Tests.Fixtures.Engines;

namespace Platform.Gateway.Tests.Pipeline;

/// <summary>The pipeline over real EngineSim processes, real sockets and the Redis-backed fleet state.</summary>
public sealed class PipelineEngineTests
{
    private static readonly TimeSpan Wait = TimeSpan.FromSeconds(15);

    private static string Text(IEnumerable<GenerationEvent> events) => string.Concat(events.OfType<ContentEvent>().Select(e => e.Text));

    [Fact]
    public async Task RunAsync_HealthyEngines_StreamsEveryTokenAndUsage()
    {
        await using var fleet = await EngineFleet.StartAsync([[], []]);

        var events = await fleet.RunAsync(EngineFleet.Chat(24), TestContext.Current.CancellationToken);

        Assert.IsType<RoutedEvent>(events[0]);
        Assert.True(events.OfType<ContentEvent>().Count() > 1);
        Assert.NotEmpty(Text(events));
        Assert.Equal("length", events.OfType<ContentEvent>().Last().FinishReason);
        var done = Assert.IsType<CompletedEvent>(events[^1]);
        Assert.Equal(24, done.Usage.CompletionTokens);
        Assert.True(done.Usage.PromptTokens > 0);
        Assert.Equal(0, done.Retries);
    }

    [Fact]
    public async Task RunAsync_FirstEngineAlwaysErrors_SucceedsElsewhereWithOneRetry()
    {
        await using var fleet = await EngineFleet.StartAsync([["--sim-error-rate", "1"], []]);

        var events = await fleet.RunAsync(EngineFleet.Chat(8), TestContext.Current.CancellationToken);

        var done = Assert.IsType<CompletedEvent>(events[^1]);
        Assert.Equal(1, done.Retries);
        Assert.Equal(fleet.Id(1), done.Route.Engine.Id);
        Assert.Equal(8, done.Usage.CompletionTokens);
    }

    [Fact]
    public async Task RunAsync_EngineCrashesMidStream_ContinuesSeamlesslyOnAnother()
    {
        await using var fleet = await EngineFleet.StartAsync([[], []]);
        const int MaxTokens = 300;
        var events = new List<GenerationEvent>();
        var armed = false;

        // The crash is armed only once this consumer holds content from engine 0, so the gateway has surely read
        // tokens before the connection dies (a crash armed up front can reset the connection before the gateway
        // reads the first bytes on a loaded machine, and then it is a retry, not a continuation).
        await foreach (var e in fleet.Pipeline.RunAsync(EngineFleet.Chat(MaxTokens), TestContext.Current.CancellationToken))
        {
            events.Add(e);
            if (e is ContentEvent && !armed)
            {
                armed = true;
                Assert.Equal(fleet.Id(0), Assert.IsType<RoutedEvent>(events[0]).Route.Engine.Id);
                try
                {
                    await fleet.Engines[0].SetFaultsAsync(new { crashAfterTokens = 1 });
                }
                catch (HttpRequestException)
                {
                    // The engine may die on its next token before it answers this request.
                }
            }
        }

        var done = Assert.IsType<CompletedEvent>(events[^1]);
        Assert.Equal(1, done.Continuations);
        Assert.Equal(fleet.Id(1), done.Route.Engine.Id);
        var split = events.FindIndex(e => e is ContinuedEvent);
        Assert.True(split > 1, "content before the crash");
        var before = Text(events.Take(split));
        var after = Text(events.Skip(split));
        Assert.NotEmpty(before);
        Assert.NotEmpty(after);
        Assert.Equal(before + after, Text(events));
        Assert.Equal(MaxTokens, done.Usage.CompletionTokens);
        Assert.Single(events.OfType<ContentEvent>(), e => e.FinishReason is not null);
        Assert.Equal(137, await fleet.Engines[0].WaitForExitAsync(Wait));
    }

    [Fact]
    public async Task RunAsync_EngineCrashesUnderConcurrentStreams_EveryStreamCompletes()
    {
        await using var fleet = await EngineFleet.StartAsync([[], []]);
        await fleet.Engines[0].SetFaultsAsync(new { crashAfterTokens = 12 });
        const int Streams = 16;

        var results = await Task.WhenAll(Enumerable.Range(0, Streams).Select(i =>
            fleet.RunAsync(EngineFleet.Chat(30, $"Stream {i}: tell me about the sea."), TestContext.Current.CancellationToken)));

        var completed = results.Select(r => r[^1]).OfType<CompletedEvent>().ToList();
        var continued = completed.Count(c => c.Continuations > 0);
        var retried = completed.Count(c => c.Retries > 0);
        TestContext.Current.TestOutputHelper?.WriteLine($"{Streams} streams: {completed.Count} completed, {continued} continued after the crash, {retried} retried before their first token");
        var failures = results.Select(r => r[^1]).OfType<FailedEvent>()
            .Select(f => $"{f.Error.Status} {f.Error.Code}: {f.Error.Message} (retries {f.Retries}, continuations {f.Continuations})");
        Assert.True(completed.Count == Streams, "streams that did not complete: " + string.Join("; ", failures));

        // Round-robin sent half the streams to the crashing engine. Whether one was cut mid-way (continued) or lost
        // its first tokens with the connection reset (retried) depends on what the gateway had read; each one of
        // them recovered exactly one way or the other.
        Assert.Equal(Streams / 2, completed.Count(c => c.Continuations > 0 || c.Retries > 0));
        Assert.All(completed, c => Assert.Equal(30, c.Usage.CompletionTokens));
        Assert.All(results, r => Assert.Equal(r.Where(e => e is ContinuedEvent).Count(), ((CompletedEvent)r[^1]).Continuations));
        Assert.Equal(137, await fleet.Engines[0].WaitForExitAsync(Wait));
    }

    [Fact]
    public async Task RunAsync_EveryEngineCrashesAfterFirstToken_FailedEventAfterContent()
    {
        await using var fleet = await EngineFleet.StartAsync([[], []]);
        await fleet.Engines[0].SetFaultsAsync(new { crashAfterTokens = 3 });
        await fleet.Engines[1].SetFaultsAsync(new { crashAfterTokens = 3 });

        var events = await fleet.RunAsync(EngineFleet.Chat(40), TestContext.Current.CancellationToken);

        Assert.Contains(events, e => e is ContentEvent);
        var failed = Assert.IsType<FailedEvent>(events[^1]);
        Assert.Equal("stream_interrupted", failed.Error.Code);
        Assert.DoesNotContain(events, e => e is CompletedEvent);
    }

    [Fact]
    public async Task RunAsync_ClientCancels_EngineFreesTheRequestPromptly()
    {
        await using var fleet = await EngineFleet.StartAsync([[]]);
        using var cts = new CancellationTokenSource();
        var inFlight = fleet.Host.Services.GetRequiredService<IInFlightTracker>();

        await foreach (var e in fleet.Pipeline.RunAsync(EngineFleet.Chat(5000), cts.Token))
        {
            if (e is ContentEvent)
            {
                Assert.Equal(1, (await fleet.Engines[0].MetricsAsync()).Running);
                await cts.CancelAsync();
            }
        }

        await Poll.UntilAsync(async () => (await fleet.Engines[0].MetricsAsync()).Running == 0, TimeSpan.FromSeconds(5), "the engine's running count to drop");
        Assert.Equal(0, inFlight.Count(fleet.Id(0)));
        Assert.Equal(BreakerState.Closed, fleet.State.GetBreaker(fleet.Id(0)).State);
    }

    [Fact]
    public async Task Breaker_RepeatedFailures_OpensThenProbeClosesAfterRecovery()
    {
        await using var fleet = await EngineFleet.StartAsync([["--sim-error-rate", "1"], []]);
        var broken = fleet.Id(0);

        await Poll.UntilAsync(async () =>
        {
            await fleet.RunAsync(EngineFleet.Chat(2), TestContext.Current.CancellationToken);
            return fleet.State.GetBreaker(broken).State != BreakerState.Closed;
        }, Wait, "the failing engine's breaker to open");

        // Open (then half-open for the prober only): client traffic goes to the healthy engine.
        for (var i = 0; i < 6; i++)
        {
            var done = Assert.IsType<CompletedEvent>((await fleet.RunAsync(EngineFleet.Chat(2), TestContext.Current.CancellationToken))[^1]);
            Assert.Equal(fleet.Id(1), done.Route.Engine.Id);
            Assert.Equal(0, done.Retries);
        }

        await fleet.Engines[0].SetFaultsAsync(new { });
        await Poll.UntilAsync(() => fleet.State.GetBreaker(broken).State == BreakerState.Closed, Wait, "the probe to close the breaker");

        var engines = new HashSet<string>();
        for (var i = 0; i < 4; i++)
        {
            engines.Add(((CompletedEvent)(await fleet.RunAsync(EngineFleet.Chat(2), TestContext.Current.CancellationToken))[^1]).Route.Engine.Id);
        }

        Assert.Contains(broken, engines);
    }

    [Fact]
    public async Task Router_EngineUnderKvPressure_IsAvoidedOnceScraped()
    {
        await using var fleet = await EngineFleet.StartAsync([["--num-gpu-blocks-override", "4096", "--max-model-len", "4096"], []]);
        var view = fleet.Host.Services.GetRequiredService<IEngineHealthView>();
        var router = fleet.Host.Services.GetRequiredService<IEngineRouter>();
        var full = fleet.Id(0);

        await fleet.Engines[0].SetFaultsAsync(new { kvDrift = 1000000.0 });
        using (var nudge = new CancellationTokenSource(TimeSpan.FromSeconds(3)))
        using (var http = new HttpClient())
        {
            // A request makes the engine step, which applies the drift; it cannot finish on a lost cache.
            var request = http.PostAsJsonAsync(new Uri(fleet.Engines[0].BaseUri, "v1/completions"), new { model = EngineSim.Model, prompt = "hi", max_tokens = 4 }, nudge.Token);
            await Poll.UntilAsync(() => view.Get(full)?.Pressure == PressureState.UnderPressure, Wait, "the scraper to see the pressure");
            await nudge.CancelAsync();
            await Assert.ThrowsAnyAsync<OperationCanceledException>(() => request);
        }

        for (var i = 0; i < 10; i++)
        {
            var route = router.Route(new RoutingRequest(EngineSim.Model, Classifier.V1.TaskKind.General, null, [], false));
            Assert.Equal(fleet.Id(1), route!.Engine.Id);
        }
    }
}
