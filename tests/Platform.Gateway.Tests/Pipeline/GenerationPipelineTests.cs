using System.Text.Json.Nodes;
using Microsoft.Extensions.DependencyInjection;
using Platform.Classifier.V1;
using Platform.Fleet.Catalog;
using Platform.Fleet.State;
using Platform.Gateway.Pipeline;
using Platform.Gateway.Routing;
using Platform.Gateway.Tests.Fixtures.Engines;
using Platform.Gateway.Upstream;

namespace Platform.Gateway.Tests.Pipeline;

public sealed class GenerationPipelineTests
{
    private readonly FakeFleetState _state = new();
    private readonly ScriptedUpstream _upstream = new();

    private static FakeCatalog Catalog(int engines = 3) => new(
        [new ModelInfo("llama", null, 4096, [FakeCatalog.Pool("general", "llama", TaskAffinity.General, engines)])]);

    private IGenerationPipeline Pipeline(int engines = 3)
    {
        var host = EngineSideHost.Build(Catalog(engines), _state, s => s.AddSingleton<IUpstreamClient>(_upstream));
        return host.Services.GetRequiredService<IGenerationPipeline>();
    }

    private static GenerationRequest Chat(int n = 1, int? maxTokens = 20) => new()
    {
        Id = "chatcmpl-test",
        Api = GenerationApi.ChatCompletions,
        Model = "llama",
        Messages = [new ChatTurn("user", "Say hello")],
        Body = new JsonObject { ["model"] = "llama", ["messages"] = new JsonArray(new JsonObject { ["role"] = "user", ["content"] = "Say hello" }), ["n"] = n },
        Choices = n,
        MaxTokens = maxTokens,
        KindHint = TaskKind.General,
        Tenant = "t",
        Frontend = "http",
    };

    private static async Task<List<GenerationEvent>> Collect(IGenerationPipeline pipeline, GenerationRequest request, CancellationToken ct = default)
    {
        var events = new List<GenerationEvent>();
        await foreach (var e in pipeline.RunAsync(request, ct))
        {
            events.Add(e);
        }

        return events;
    }

    private static UpstreamDelta Text(string text, string? finish = null) => new(0, text, null, finish, null);

    [Fact]
    public async Task RunAsync_ServerErrorBeforeContent_RetriesOnAnotherEngine()
    {
        _upstream.Then(new UpstreamEnd(UpstreamError.ServerError, 500))
            .Then(Text("Hi"), new UpstreamUsage(5, 1, 0), Text("!", "stop"), new UpstreamUsage(5, 2, 0), UpstreamEnd.Completed);

        var events = await Collect(Pipeline(), Chat());

        var routed = Assert.IsType<RoutedEvent>(events[0]);
        Assert.Single(events.OfType<RoutedEvent>());
        Assert.Null(routed.EngineWait); // a retried generation's time to first token is not split into gateway and engine
        Assert.Equal("Hi!", string.Concat(events.OfType<ContentEvent>().Select(e => e.Text)));
        var done = Assert.IsType<CompletedEvent>(events[^1]);
        Assert.Equal(1, done.Retries);
        Assert.Equal(done.Route.Engine.Id, routed.Route.Engine.Id);
        Assert.Equal(new GenerationUsage(5, 2, 0), done.Usage);
        var calls = _upstream.Calls.ToArray();
        Assert.NotEqual(calls[0].EngineId, calls[1].EngineId);
        Assert.True((bool)calls[0].Body["stream"]!);
        Assert.True((bool)calls[0].Body["stream_options"]!["include_usage"]!);
        Assert.Contains(_state.Outcomes, o => o.Engine == calls[0].EngineId && o.Outcome == EngineOutcome.Failure);
    }

    [Fact]
    public async Task RunAsync_FirstAttemptServes_RoutedEventCarriesTheEngineWait()
    {
        _upstream.Then(Text("Hi", "stop"), new UpstreamUsage(5, 1, 0), UpstreamEnd.Completed);

        var events = await Collect(Pipeline(), Chat());

        var routed = Assert.IsType<RoutedEvent>(events[0]);
        Assert.NotNull(routed.EngineWait);
        Assert.True(routed.EngineWait >= TimeSpan.Zero);
    }

    [Fact]
    public async Task RunAsync_RetriedThenCompleted_LatencyRecordedForTheEngineThatAnswered()
    {
        _upstream.Then(new UpstreamEnd(UpstreamError.ServerError, 500))
            .Then(Text("Hi"), new UpstreamUsage(5, 1, 0), Text(" there"), new UpstreamUsage(5, 2, 0), Text("!", "stop"), new UpstreamUsage(5, 3, 0), UpstreamEnd.Completed);
        using var host = EngineSideHost.Build(Catalog(), _state, s => s.AddSingleton<IUpstreamClient>(_upstream));
        var latency = host.Services.GetRequiredService<EngineLatencyTracker>();

        await Collect(host.Services.GetRequiredService<IGenerationPipeline>(), Chat());

        var calls = _upstream.Calls.ToArray();
        Assert.Equal(0, latency.Estimate(calls[0].EngineId).TtftSamples);
        Assert.Equal(0, latency.Estimate(calls[0].EngineId).ItlSamples);
        var served = latency.Estimate(calls[1].EngineId);
        Assert.Equal(1, served.TtftSamples);
        Assert.Equal(1, served.ItlSamples);
        Assert.True(served.TtftSeconds >= 0 && served.ItlSeconds >= 0);
    }

    [Fact]
    public async Task RunAsync_BrokenAfterContent_FirstTokenRecordedButNoInterTokenLatency()
    {
        _upstream.Then(Text("Hello"), new UpstreamUsage(10, 1, 0), Text(" wor"), new UpstreamUsage(10, 2, 0), new UpstreamEnd(UpstreamError.StreamBroken))
            .Then(Text("ld", "stop"), new UpstreamUsage(14, 1, 0), UpstreamEnd.Completed);
        using var host = EngineSideHost.Build(Catalog(), _state, s => s.AddSingleton<IUpstreamClient>(_upstream));
        var latency = host.Services.GetRequiredService<EngineLatencyTracker>();

        await Collect(host.Services.GetRequiredService<IGenerationPipeline>(), Chat());

        var calls = _upstream.Calls.ToArray();
        Assert.Equal(1, latency.Estimate(calls[0].EngineId).TtftSamples);
        Assert.Equal(0, latency.Estimate(calls[0].EngineId).ItlSamples);
        Assert.Equal(1, latency.Estimate(calls[1].EngineId).TtftSamples);
        Assert.Equal(0, latency.Estimate(calls[1].EngineId).ItlSamples);
    }

    [Fact]
    public async Task RunAsync_EngineRejectsRequest_NoRetryAndErrorRelayed()
    {
        _upstream.Then(new UpstreamEnd(UpstreamError.RequestRejected, 400, """{"error":{"message":"max_tokens too large","type":"BadRequestError","param":"max_tokens","code":400}}"""));

        var events = await Collect(Pipeline(), Chat());

        var failed = Assert.IsType<FailedEvent>(events[^1]);
        Assert.Equal(400, failed.Error.Status);
        Assert.Equal("max_tokens too large", failed.Error.Message);
        Assert.Equal("max_tokens", failed.Error.Param);
        Assert.Single(_upstream.Calls);
        Assert.DoesNotContain(_state.Outcomes, o => o.Outcome == EngineOutcome.Failure);
    }

    [Fact]
    public async Task RunAsync_AttemptsExhausted_FailsWithLastError()
    {
        for (var i = 0; i < 3; i++)
        {
            _upstream.Then(new UpstreamEnd(UpstreamError.FirstTokenTimeout));
        }

        var events = await Collect(Pipeline(), Chat());

        var failed = Assert.IsType<FailedEvent>(events[^1]);
        Assert.Equal(504, failed.Error.Status);
        Assert.Equal(2, failed.Retries);
        Assert.Equal(3, _upstream.Calls.Count);
    }

    [Fact]
    public async Task RunAsync_BrokenAfterContent_ContinuesWithAssistantPrefix()
    {
        _upstream.Then(Text("Hello"), new UpstreamUsage(10, 1, 0), Text(" wor"), new UpstreamUsage(10, 2, 0), new UpstreamEnd(UpstreamError.StreamBroken))
            .Then(Text("ld", "stop"), new UpstreamUsage(14, 1, 0), UpstreamEnd.Completed);

        var events = await Collect(Pipeline(), Chat(maxTokens: 20));

        Assert.Equal("Hello world", string.Concat(events.OfType<ContentEvent>().Select(e => e.Text)));
        Assert.Single(events.OfType<ContinuedEvent>());
        var done = Assert.IsType<CompletedEvent>(events[^1]);
        Assert.Equal(1, done.Continuations);
        Assert.Equal(new GenerationUsage(10, 3, 0), done.Usage);
        var second = _upstream.Calls.ToArray()[1].Body;
        var messages = second["messages"]!.AsArray();
        Assert.Equal("assistant", (string?)messages[^1]!["role"]);
        Assert.Equal("Hello wor", (string?)messages[^1]!["content"]);
        Assert.True((bool)second["continue_final_message"]!);
        Assert.False((bool)second["add_generation_prompt"]!);
        Assert.Equal(18, (int)second["max_tokens"]!);
    }

    [Fact]
    public async Task RunAsync_CompletionsBrokenAfterContent_AppendsToPrompt()
    {
        _upstream.Then(Text("one"), new UpstreamUsage(3, 1, 0), new UpstreamEnd(UpstreamError.IdleTimeout))
            .Then(Text(" two", "length"), new UpstreamUsage(4, 1, 0), UpstreamEnd.Completed);
        var request = Chat() with
        {
            Api = GenerationApi.Completions,
            Messages = [],
            Prompt = "Count:",
            Body = new JsonObject { ["model"] = "llama", ["prompt"] = "Count:", ["echo"] = true },
        };

        var events = await Collect(Pipeline(), request);

        Assert.IsType<CompletedEvent>(events[^1]);
        var second = _upstream.Calls.ToArray()[1].Body;
        Assert.Equal("Count:one", (string?)second["prompt"]);
        Assert.False(second.ContainsKey("echo"));
    }

    [Fact]
    public async Task RunAsync_EveryEngineFailsAfterContent_EndsWithFailedEvent()
    {
        _upstream.Then(Text("Hel"), new UpstreamUsage(3, 1, 0), new UpstreamEnd(UpstreamError.StreamBroken))
            .Then(new UpstreamEnd(UpstreamError.ConnectFailed));

        var events = await Collect(Pipeline(engines: 2), Chat());

        Assert.Contains(events, e => e is ContentEvent);
        var failed = Assert.IsType<FailedEvent>(events[^1]);
        Assert.Equal("stream_interrupted", failed.Error.Code);
        Assert.DoesNotContain(events, e => e is CompletedEvent);
    }

    [Fact]
    public async Task RunAsync_ManyChoicesBrokenAfterContent_ExplicitError()
    {
        _upstream.Then(new UpstreamDelta(1, "x", null, null, null), new UpstreamEnd(UpstreamError.StreamBroken));

        var events = await Collect(Pipeline(), Chat(n: 2));

        var failed = Assert.IsType<FailedEvent>(events[^1]);
        Assert.Contains("n > 1", failed.Error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task RunAsync_RetryBudgetSpent_FailsFastWith503()
    {
        var host = EngineSideHost.Build(Catalog(), _state, s => s.AddSingleton<IUpstreamClient>(_upstream), new Dictionary<string, string?>
        {
            ["Gateway:Retries:BudgetRatio"] = "0",
            ["Gateway:Retries:MinRetriesPerSecond"] = "0",
        });
        _upstream.Then(new UpstreamEnd(UpstreamError.ServerError, 500)).Then(Text("never", "stop"), UpstreamEnd.Completed);

        var events = await Collect(host.Services.GetRequiredService<IGenerationPipeline>(), Chat());

        var failed = Assert.IsType<FailedEvent>(events[^1]);
        Assert.Equal(503, failed.Error.Status);
        Assert.Equal("retry_budget_exhausted", failed.Error.Code);
        Assert.Single(_upstream.Calls);
    }

    [Fact]
    public async Task RunAsync_NoEngine_503WithRetryAfter()
    {
        foreach (var e in Catalog().Engines)
        {
            _state.SetBreaker(e.Id, BreakerState.Open);
        }

        var events = await Collect(Pipeline(), Chat());

        var failed = Assert.IsType<FailedEvent>(Assert.Single(events));
        Assert.Equal(503, failed.Error.Status);
        Assert.NotNull(failed.Error.RetryAfter);
        Assert.Empty(_upstream.Calls);
    }

    [Fact]
    public async Task RunAsync_ClientCancels_EndsWithoutFailedEventOrBreakerFailure()
    {
        using var cts = new CancellationTokenSource();
        _upstream.Then(Text("a"), Text("b"), Text("c", "stop"), UpstreamEnd.Completed);
        var events = new List<GenerationEvent>();

        await foreach (var e in Pipeline().RunAsync(Chat(), cts.Token))
        {
            events.Add(e);
            if (e is ContentEvent)
            {
                await cts.CancelAsync();
            }
        }

        Assert.DoesNotContain(events, e => e is FailedEvent or CompletedEvent);
        Assert.DoesNotContain(_state.Outcomes, o => o.Outcome == EngineOutcome.Failure);
    }
}
