using Platform.EngineSim.Tests.Fixtures;

namespace Platform.EngineSim.Tests.Api;

/// <summary>/v1/models, /health, /ping, /version, /metrics, /tokenize, /detokenize in vLLM's shapes.</summary>
public sealed class ServerEndpointsTests
{
    private const string CommandLine = "--model org/base-model --served-model-name first second --max-model-len 2048";

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task Models_ListsEveryServedNameAsModelCard()
    {
        await using var server = await EngineSimServer.StartAsync(CommandLine, scripted: true);
        var body = Sse.Json(await server.Http.GetStringAsync("v1/models", Ct));

        Assert.Equal("list", body.GetProperty("object").GetString());
        var cards = body.GetProperty("data").EnumerateArray().ToList();
        Assert.Equal(["first", "second"], cards.Select(c => c.GetProperty("id").GetString()));
        Assert.Equal(["id", "object", "created", "owned_by", "root", "parent", "max_model_len", "permission"], Sse.Keys(cards[0]));
        Assert.All(cards, c =>
        {
            Assert.Equal("model", c.GetProperty("object").GetString());
            Assert.Equal("vllm", c.GetProperty("owned_by").GetString());
            Assert.Equal("org/base-model", c.GetProperty("root").GetString());
            Assert.Equal(2048, c.GetProperty("max_model_len").GetInt32());
        });
    }

    [Fact]
    public async Task Sdk_ListsModels()
    {
        await using var server = await EngineSimServer.StartAsync(CommandLine, scripted: true);
        var models = await server.OpenAi().GetOpenAIModelClient().GetModelsAsync(Ct);

        Assert.Equal(["first", "second"], models.Value.Select(m => m.Id));
        Assert.All(models.Value, m => Assert.Equal("vllm", m.OwnedBy));
    }

    [Fact]
    public async Task HealthPingVersionAlive_AnswerAsVllm()
    {
        await using var server = await EngineSimServer.StartAsync(CommandLine, scripted: true);
        using var health = await server.Http.GetAsync("health", Ct);
        using var ping = await server.Http.PostAsync("ping", null, Ct);
        using var alive = await server.Http.GetAsync("alive", Ct);
        using var version = await server.Http.GetAsync("version", Ct);

        Assert.Equal(200, (int)health.StatusCode);
        Assert.Equal("", await health.Content.ReadAsStringAsync(Ct));
        Assert.Equal(200, (int)ping.StatusCode);
        Assert.Equal(200, (int)alive.StatusCode);
        Assert.Equal("""{"version":"0.11.0"}""", await version.Content.ReadAsStringAsync(Ct));
        Assert.Equal("EngineSim", version.Headers.GetValues("X-Engine").Single());
    }

    [Fact]
    public async Task Health_DeadEngine_Is503()
    {
        await using var server = await EngineSimServer.StartAsync(CommandLine, scripted: true);
        server.Engine.MarkDead();

        using var health = await server.Http.GetAsync("health", Ct);
        var (status, body) = await Sse.PostJsonAsync(server.Http, "v1/completions", """{"prompt":"x"}""");

        Assert.Equal(503, (int)health.StatusCode);
        Assert.Equal(500, status);
        Assert.Equal("The engine is dead.", body.GetProperty("error").GetProperty("message").GetString());
    }

    [Fact]
    public async Task Metrics_UsesPrometheusTextContentType()
    {
        await using var server = await EngineSimServer.StartAsync(CommandLine, scripted: true);
        using var response = await server.Http.GetAsync("metrics", Ct);

        Assert.Equal("text/plain; version=0.0.4; charset=utf-8", response.Content.Headers.ContentType!.ToString());
        Assert.Contains("vllm:num_requests_running", await response.Content.ReadAsStringAsync(Ct), StringComparison.Ordinal);
    }

    [Fact]
    public async Task TokenizeDetokenize_RoundTrip()
    {
        await using var server = await EngineSimServer.StartAsync(CommandLine, scripted: true);
        var (status, tokenized) = await Sse.PostJsonAsync(server.Http, "tokenize", """{"model":"first","prompt":"Hello, world!","return_token_strs":true}""");
        var (_, detokenized) = await Sse.PostJsonAsync(server.Http, "detokenize", $$"""{"tokens":{{tokenized.GetProperty("tokens").GetRawText()}}}""");
        var (unknown, _) = await Sse.PostJsonAsync(server.Http, "tokenize", """{"model":"other","prompt":"x"}""");

        Assert.Equal(200, status);
        Assert.Equal(["count", "max_model_len", "tokens", "token_strs"], Sse.Keys(tokenized));
        Assert.Equal(tokenized.GetProperty("tokens").GetArrayLength(), tokenized.GetProperty("count").GetInt32());
        Assert.Equal(2048, tokenized.GetProperty("max_model_len").GetInt32());
        Assert.Equal("Hello, world!", string.Concat(tokenized.GetProperty("token_strs").EnumerateArray().Select(t => t.GetString())));
        Assert.Equal("Hello, world!", detokenized.GetProperty("prompt").GetString());
        Assert.Equal(404, unknown);
    }

    [Fact]
    public async Task Tokenize_Messages_AppliesLlama3TemplateWithGenerationPrompt()
    {
        await using var server = await EngineSimServer.StartAsync(CommandLine, scripted: true);
        var (_, tokenized) = await Sse.PostJsonAsync(server.Http, "tokenize", """{"messages":[{"role":"system","content":" Be brief. "},{"role":"user","content":[{"type":"text","text":"Hi"}]}]}""");
        var (_, text) = await Sse.PostJsonAsync(server.Http, "detokenize", $$"""{"tokens":{{tokenized.GetProperty("tokens").GetRawText()}}}""");

        Assert.Equal(
            "<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\nBe brief.<|eot_id|><|start_header_id|>user<|end_header_id|>\n\nHi<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n",
            text.GetProperty("prompt").GetString());
    }
}
