using System.ClientModel;
using System.Text;
using System.Text.Json;
using OpenAI.Chat;
using Platform.EngineSim.Tests.Fixtures;

namespace Platform.EngineSim.Tests.Api;

/// <summary>Errors in OpenAI's body as vLLM renders it, with vLLM's status codes and words.</summary>
public sealed class ErrorTests
{
    private const string CommandLine = "--model m --max-model-len 64 --num-gpu-blocks-override 64";

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private static void AssertError(JsonElement body, int code, string type, string message)
    {
        var error = body.GetProperty("error");
        Assert.Equal(["message", "type", "param", "code"], Sse.Keys(error));
        Assert.Equal(code, error.GetProperty("code").GetInt32());
        Assert.Equal(type, error.GetProperty("type").GetString());
        Assert.Contains(message, error.GetProperty("message").GetString(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Chat_PromptPlusMaxTokensOverWindow_Is400WithCounts()
    {
        await using var server = await EngineSimServer.StartAsync(CommandLine, scripted: true);
        var (_, tokenized) = await Sse.PostJsonAsync(server.Http, "tokenize", """{"messages":[{"role":"user","content":"hello there"}]}""");
        var promptTokens = tokenized.GetProperty("count").GetInt32();

        var (status, body) = await Sse.PostJsonAsync(server.Http, "v1/chat/completions",
            """{"model":"m","messages":[{"role":"user","content":"hello there"}],"max_tokens":60}""");

        Assert.Equal(400, status);
        AssertError(body, 400, "BadRequestError",
            $"This model's maximum context length is 64 tokens. However, you requested {60 + promptTokens} tokens ({promptTokens} in the messages, 60 in the completion). Please reduce the length of the messages or completion.");
    }

    [Fact]
    public async Task Chat_PromptOverWindowWithoutMaxTokens_Is400MessagesOnly()
    {
        await using var server = await EngineSimServer.StartAsync(CommandLine, scripted: true);
        var (status, body) = await Sse.PostJsonAsync(server.Http, "v1/chat/completions",
            $$"""{"messages":[{"role":"user","content":"{{string.Concat(Enumerable.Repeat("word ", 80))}}"}]}""");

        Assert.Equal(400, status);
        AssertError(body, 400, "BadRequestError", "This model's maximum context length is 64 tokens. However, you requested ");
        Assert.EndsWith("tokens in the messages, Please reduce the length of the messages.", body.GetProperty("error").GetProperty("message").GetString(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Sdk_ContextWindowUnknownModelAndBadKey_SurfaceStatus()
    {
        await using var server = await EngineSimServer.StartAsync(CommandLine + " --api-key sekret", scripted: true);

        var tooLong = await Assert.ThrowsAsync<ClientResultException>(() => server.OpenAi("sekret").GetChatClient("m")
            .CompleteChatAsync([new UserChatMessage("hi")], new ChatCompletionOptions { MaxOutputTokenCount = 1000 }, Ct));
        var unknown = await Assert.ThrowsAsync<ClientResultException>(() => server.OpenAi("sekret").GetChatClient("gpt-4o")
            .CompleteChatAsync([new UserChatMessage("hi")], cancellationToken: Ct));
        var badKey = await Assert.ThrowsAsync<ClientResultException>(() => server.OpenAi("wrong").GetChatClient("m")
            .CompleteChatAsync([new UserChatMessage("hi")], cancellationToken: Ct));

        Assert.Equal((400, 404, 401), (tooLong.Status, unknown.Status, badKey.Status));
    }

    [Fact]
    public async Task UnknownModel_Is404NotFound()
    {
        await using var server = await EngineSimServer.StartAsync(CommandLine, scripted: true);
        var (status, body) = await Sse.PostJsonAsync(server.Http, "v1/completions", """{"model":"nope","prompt":"x"}""");

        Assert.Equal(404, status);
        AssertError(body, 404, "NotFoundError", "The model `nope` does not exist.");
    }

    [Fact]
    public async Task ApiKey_MissingOrWrong_Is401UnauthorizedOnV1Only()
    {
        await using var server = await EngineSimServer.StartAsync(CommandLine + " --api-key sekret", scripted: true);

        var (missing, body) = await Sse.PostJsonAsync(server.Http, "v1/completions", """{"prompt":"x","max_tokens":1}""");
        var (wrong, _) = await Sse.PostJsonAsync(server.Http, "v1/completions", """{"prompt":"x","max_tokens":1}""", apiKey: "nope");
        var (right, _) = await Sse.PostJsonAsync(server.Http, "v1/completions", """{"prompt":"x","max_tokens":1}""", apiKey: "sekret");
        using var models = await server.Http.GetAsync("v1/models", Ct);
        using var health = await server.Http.GetAsync("health", Ct);

        Assert.Equal((401, 401, 200), (missing, wrong, right));
        Assert.Equal("""{"error":"Unauthorized"}""", body.GetRawText());
        Assert.Equal(401, (int)models.StatusCode);
        Assert.Equal(200, (int)health.StatusCode);
    }

    [Theory]
    [InlineData("""{"messages":[{"role":"user","content":"x"}""", "json_invalid")]
    [InlineData("""[1,2,3]""", "valid dictionary")]
    [InlineData("""{"messages":"hello"}""", "'messages'")]
    [InlineData("""{"prompt":"x"}""", "'messages'")]
    [InlineData("""{"messages":[{"role":"user","content":"x"}],"max_tokens":"ten"}""", "'max_tokens'")]
    [InlineData("""{"messages":[{"role":"user","content":"x"}],"temperature":"hot"}""", "'temperature'")]
    [InlineData("""{"messages":[{"role":"user","content":"x"}],"stream_options":{"include_usage":true}}""", "Stream options can only be defined when `stream=True`.")]
    [InlineData("""{"messages":[{"role":"user","content":"x"}],"top_logprobs":2}""", "`logprobs` must be set to true")]
    public async Task Chat_MalformedBody_Is400BadRequest(string json, string expected)
    {
        await using var server = await EngineSimServer.StartAsync(CommandLine, scripted: true);
        var (status, body) = await Sse.PostJsonAsync(server.Http, "v1/chat/completions", json);

        Assert.Equal(400, status);
        AssertError(body, 400, "Bad Request", expected);
    }

    [Theory]
    [InlineData("\"temperature\":2.5", "temperature must be in [0, 2], got 2.5.", "temperature")]
    [InlineData("\"top_p\":0", "top_p must be in (0, 1], got 0.", "top_p")]
    [InlineData("\"max_tokens\":0", "max_tokens must be at least 1, got 0.", "max_tokens")]
    [InlineData("\"n\":0", "n must be at least 1, got 0.", "n")]
    [InlineData("\"n\":2,\"temperature\":0", "n must be 1 when using greedy sampling, got 2.", "n")]
    [InlineData("\"best_of\":3", "vLLM V1 does not yet support best_of.", "best_of")]
    [InlineData("\"min_tokens\":9,\"max_tokens\":4", "min_tokens must be less than or equal to max_tokens=4, got 9.", "min_tokens")]
    [InlineData("\"stop\":[\"\"]", "stop cannot contain an empty string.", "stop")]
    [InlineData("\"logprobs\":true,\"top_logprobs\":21", "Requested sample logprobs of 21, which is greater than max allowed: 20", "logprobs")]
    public async Task Chat_BadSamplingParameter_Is400NamingIt(string field, string message, string param)
    {
        await using var server = await EngineSimServer.StartAsync(CommandLine, scripted: true);
        var (status, body) = await Sse.PostJsonAsync(server.Http, "v1/chat/completions", $$"""{"messages":[{"role":"user","content":"x"}],{{field}}}""");

        Assert.Equal(400, status);
        AssertError(body, 400, "BadRequestError", message);
        Assert.Equal(param, body.GetProperty("error").GetProperty("param").GetString());
    }

    [Fact]
    public async Task BeamSearch_UnderSpeculativeDecoding_Is400()
    {
        await using var server = await EngineSimServer.StartAsync(
            CommandLine + """ --speculative-config {"model":"draft-1b","num_speculative_tokens":3}""", scripted: true);
        var (status, body) = await Sse.PostJsonAsync(server.Http, "v1/completions", """{"prompt":"x","use_beam_search":true,"n":2}""");

        Assert.Equal(400, status);
        AssertError(body, 400, "BadRequestError", "Beam search is not supported with speculative decoding");
    }

    [Fact]
    public async Task BodyOverLimit_Is413()
    {
        await using var server = await EngineSimServer.StartAsync(CommandLine + " --sim-max-request-bytes 4096", scripted: true);
        var (status, body) = await Sse.PostJsonAsync(server.Http, "v1/completions", $$"""{"prompt":"{{new string('a', 20_000)}}"}""");

        Assert.Equal(413, status);
        Assert.Equal(413, body.GetProperty("error").GetProperty("code").GetInt32());
    }

    [Fact]
    public async Task InvalidUtf8OrEmptyBody_Is400NotServerError()
    {
        await using var server = await EngineSimServer.StartAsync(CommandLine, scripted: true);
        using var empty = await server.Http.PostAsync("v1/completions", new StringContent("", Encoding.UTF8, "application/json"), Ct);
        using var binary = await server.Http.PostAsync("v1/completions", new ByteArrayContent([0xff, 0xfe, 0x00, 0x7b]), Ct);

        Assert.Equal(400, (int)empty.StatusCode);
        Assert.Equal(400, (int)binary.StatusCode);
    }
}
