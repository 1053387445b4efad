using Platform.EngineSim.Tests.Fixtures;

namespace Platform.EngineSim.Tests.Api;

/// <summary>A client that goes away mid-stream cancels its engine request at once.</summary>
public sealed class DisconnectTests
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task ClientDisconnectMidStream_EngineRequestAbortedPromptly()
    {
        await using var server = await EngineSimServer.StartAsync("--model m --max-model-len 4096 --num-gpu-blocks-override 512", scripted: true);
        var engine = (ScriptedEngine)server.Engine;
        engine.StepDelay = TimeSpan.FromMilliseconds(20);

        var response = await Sse.PostAsync(server.Http, "v1/chat/completions",
            """{"messages":[{"role":"user","content":"go"}],"max_tokens":3000,"stream":true}""");
        var stream = await response.Content.ReadAsStreamAsync(Ct);
        var buffer = new byte[256];
        Assert.True(await stream.ReadAsync(buffer, Ct) > 0);
        Assert.Equal(1, engine.Running);

        response.Dispose();

        await EngineSimServer.WaitUntilAsync(() => Task.FromResult(engine.Running == 0), TimeSpan.FromSeconds(5), "the engine request to be aborted");
        Assert.Equal(1, engine.Aborted);
        Assert.Equal(0, await server.MetricAsync("vllm:num_requests_running"));
    }

    [Fact]
    public async Task ClientDisconnectWithNChoices_EveryChoiceAborted()
    {
        await using var server = await EngineSimServer.StartAsync("--model m --max-model-len 4096 --num-gpu-blocks-override 512", scripted: true);
        var engine = (ScriptedEngine)server.Engine;
        engine.StepDelay = TimeSpan.FromMilliseconds(20);

        var response = await Sse.PostAsync(server.Http, "v1/completions", """{"prompt":"go","max_tokens":3000,"n":3,"stream":true}""");
        var stream = await response.Content.ReadAsStreamAsync(Ct);
        Assert.True(await stream.ReadAsync(new byte[64], Ct) > 0);
        await EngineSimServer.WaitUntilAsync(() => Task.FromResult(engine.Running == 3), TimeSpan.FromSeconds(5), "three choices running");

        response.Dispose();

        await EngineSimServer.WaitUntilAsync(() => Task.FromResult(engine.Running == 0), TimeSpan.FromSeconds(5), "every choice to be aborted");
        Assert.Equal(3, engine.Aborted);
    }
}
