using System.Text;
using System.Text.Json;
using Platform.EngineSim.Faults;
using Platform.EngineSim.Tests.Fixtures;

namespace Platform.EngineSim.Tests.Faults;

/// <summary>/admin/faults and the faults the HTTP layer applies: errors, hang, crash, lying health.</summary>
public sealed class FaultEndpointTests
{
    private const string CommandLine = "--model m --max-model-len 1024 --num-gpu-blocks-override 128";

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private static Task<(int Status, JsonElement Body)> SetFaultsAsync(EngineSimServer server, string json) =>
        Sse.PostJsonAsync(server.Http, "admin/faults", json);

    [Fact]
    public async Task GetFaults_ReturnsCurrentSettings()
    {
        await using var server = await EngineSimServer.StartAsync(CommandLine + " --sim-slowdown 2 --sim-error-status 503", scripted: true);
        var body = Sse.Json(await server.Http.GetStringAsync("admin/faults", Ct));

        Assert.Equal(
            ["errorRate", "errorStatus", "latencySpikeMs", "latencySpikeRate", "slowdown", "hang", "crashAfterTokens", "kvDrift", "lieHealth"],
            Sse.Keys(body));
        Assert.Equal(2.0, body.GetProperty("slowdown").GetDouble());
        Assert.Equal(503, body.GetProperty("errorStatus").GetInt32());
        Assert.Equal(JsonValueKind.Null, body.GetProperty("crashAfterTokens").ValueKind);
    }

    [Fact]
    public async Task PostFaults_ReplacesWholeSet()
    {
        await using var server = await EngineSimServer.StartAsync(CommandLine + " --sim-slowdown 2", scripted: true);
        var (status, body) = await SetFaultsAsync(server, """{"kvDrift":0.5,"latencySpikeMs":100,"latencySpikeRate":0.2}""");

        Assert.Equal(200, status);
        Assert.Equal(new FaultSettings { KvDrift = 0.5, LatencySpikeMs = 100, LatencySpikeRate = 0.2 }, server.Engine.Faults.Current);
        Assert.Equal(1.0, body.GetProperty("slowdown").GetDouble());
    }

    [Theory]
    [InlineData("""{"errorRate":0.1,"explode":true}""", "Unknown field 'explode'.")]
    [InlineData("""{"errorRate":1.5}""", "'errorRate'")]
    [InlineData("""{"errorStatus":302}""", "'errorStatus'")]
    [InlineData("""{"slowdown":0.5}""", "'slowdown'")]
    [InlineData("""{"latencySpikeMs":-1}""", "'latencySpikeMs'")]
    [InlineData("""{"crashAfterTokens":0}""", "'crashAfterTokens'")]
    [InlineData("""{"hang":"yes"}""", "'hang'")]
    [InlineData("""{"errorRate":0.1""", "json_invalid")]
    public async Task PostFaults_Invalid_Is400NamingTheField(string json, string expected)
    {
        await using var server = await EngineSimServer.StartAsync(CommandLine, scripted: true);
        var (status, body) = await SetFaultsAsync(server, json);

        Assert.Equal(400, status);
        Assert.Contains(expected, body.GetProperty("error").GetProperty("message").GetString(), StringComparison.Ordinal);
        Assert.Equal(new FaultSettings(), server.Engine.Faults.Current);
    }

    [Fact]
    public async Task ErrorRateOne_EveryGenerationFailsWithErrorStatus()
    {
        await using var server = await EngineSimServer.StartAsync(CommandLine, scripted: true);
        await SetFaultsAsync(server, """{"errorRate":1,"errorStatus":503}""");

        var (chat, chatBody) = await Sse.PostJsonAsync(server.Http, "v1/chat/completions", """{"messages":[{"role":"user","content":"x"}],"max_tokens":2}""");
        var (completion, _) = await Sse.PostJsonAsync(server.Http, "v1/completions", """{"prompt":"x","max_tokens":2}""");
        var (streamed, _) = await Sse.PostJsonAsync(server.Http, "v1/completions", """{"prompt":"x","max_tokens":2,"stream":true}""");
        using var health = await server.Http.GetAsync("health", Ct);

        Assert.Equal((503, 503, 503), (chat, completion, streamed));
        Assert.Equal(503, chatBody.GetProperty("error").GetProperty("code").GetInt32());
        Assert.Equal("Service Unavailable", chatBody.GetProperty("error").GetProperty("type").GetString());
        Assert.Equal(200, (int)health.StatusCode);
    }

    [Fact]
    public async Task ErrorRateHalf_FailsAboutHalfDeterministically()
    {
        await using var server = await EngineSimServer.StartAsync(CommandLine + " --sim-error-rate 0.5 --sim-error-status 429", scripted: true);
        var statuses = new List<int>();
        for (var i = 0; i < 40; i++)
        {
            statuses.Add((await Sse.PostJsonAsync(server.Http, "v1/completions", """{"prompt":"x","max_tokens":1}""")).Status);
        }

        Assert.All(statuses, s => Assert.Contains(s, new[] { 200, 429 }));
        Assert.InRange(statuses.Count(s => s == 429), 8, 32);
    }

    [Fact]
    public async Task Hang_RequestNeverAnswersAndClientCancelFreesIt()
    {
        await using var server = await EngineSimServer.StartAsync(CommandLine, scripted: true);
        var engine = (ScriptedEngine)server.Engine;
        await SetFaultsAsync(server, """{"hang":true}""");
        using var health = await server.Http.GetAsync("health", Ct);
        Assert.Equal(503, (int)health.StatusCode);

        using var cancel = CancellationTokenSource.CreateLinkedTokenSource(Ct);
        var request = server.Http.PostAsync("v1/completions", new StringContent("""{"prompt":"x","max_tokens":4}""", Encoding.UTF8, "application/json"), cancel.Token);
        await EngineSimServer.WaitUntilAsync(() => Task.FromResult(engine.Running == 1), TimeSpan.FromSeconds(5), "the hung request to be admitted");
        Assert.False(request.IsCompleted);

        await cancel.CancelAsync();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => request);

        await EngineSimServer.WaitUntilAsync(() => Task.FromResult(engine.Running == 0), TimeSpan.FromSeconds(5), "the hung request to be freed");
        Assert.Equal(1, engine.Aborted);
    }

    [Fact]
    public async Task Hang_ClearedAtRunTime_HeldRequestCompletes()
    {
        await using var server = await EngineSimServer.StartAsync(CommandLine + " --sim-hang", scripted: true);
        var engine = (ScriptedEngine)server.Engine;
        var request = Sse.PostJsonAsync(server.Http, "v1/completions", """{"prompt":"x","max_tokens":4}""");
        await EngineSimServer.WaitUntilAsync(() => Task.FromResult(engine.Running == 1), TimeSpan.FromSeconds(5), "the request to be admitted");

        await SetFaultsAsync(server, "{}");
        var (status, _) = await request;

        Assert.Equal(200, status);
    }

    [Fact]
    public async Task LieHealth_DeadEngineStillReports200()
    {
        await using var server = await EngineSimServer.StartAsync(CommandLine + " --sim-lie-health", scripted: true);
        server.Engine.MarkDead();
        using var lying = await server.Http.GetAsync("health", Ct);

        await SetFaultsAsync(server, """{"lieHealth":false}""");
        using var honest = await server.Http.GetAsync("health", Ct);

        Assert.Equal(200, (int)lying.StatusCode);
        Assert.Equal(503, (int)honest.StatusCode);
    }

    [Fact]
    public async Task CrashAfterTokens_StreamCutAndProcessExitsWith137()
    {
        await using var server = await EngineSimServer.StartAsync(CommandLine + " --sim-crash-after-tokens 5", scripted: true);
        var body = new StringBuilder();
        try
        {
            using var response = await Sse.PostAsync(server.Http, "v1/completions", """{"prompt":"x","max_tokens":50,"stream":true}""");
            body.Append(await response.Content.ReadAsStringAsync(Ct));
        }
        catch (HttpRequestException)
        {
            // The connection is aborted mid-stream, as a crashed process would drop it.
        }

        Assert.Equal(137, server.Terminator.ExitCode);
        Assert.True(server.Engine.IsDead);
        Assert.DoesNotContain("[DONE]", body.ToString(), StringComparison.Ordinal);
        using var health = await server.Http.GetAsync("health", Ct);
        Assert.Equal(503, (int)health.StatusCode);
    }
}
