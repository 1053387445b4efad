using System.ClientModel;
using System.Net;
using System.Text;
using System.Text.Json;
using OpenAI;
using OpenAI.Chat;
using Platform.Gateway.Pipeline;
using Platform.Gateway.Tests.Fixtures.Stack;

namespace Platform.Gateway.Tests.Api;

public sealed class OpenAiApiTests
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private static StringContent Json(string json) => new(json, Encoding.UTF8, "application/json");

    [Fact]
    public async Task ChatCompletions_OpenAiSdk_ReturnsCompletionWithUsage()
    {
        var (host, pipeline, limiter) = await GatewayHost.StartScriptedAsync();
        await using var _ = host;
        var client = new ChatClient(GatewayHost.Model, new ApiKeyCredential(GatewayHost.Key), new OpenAIClientOptions { Endpoint = new Uri(host.HttpUri, "/v1") });

        ChatCompletion completion = await client.CompleteChatAsync([new UserChatMessage("Say hello")], new ChatCompletionOptions { Temperature = 0.5f }, Ct);

        Assert.Equal("Hello world", completion.Content[0].Text);
        Assert.Equal(ChatFinishReason.Stop, completion.FinishReason);
        Assert.Equal(5, completion.Usage.InputTokenCount);
        Assert.Equal(2, completion.Usage.OutputTokenCount);
        Assert.StartsWith("chatcmpl-", completion.Id, StringComparison.Ordinal);
        var request = Assert.Single(pipeline.Requests);
        Assert.Equal("tenant-a", request.Tenant);
        Assert.Equal("user", request.Messages[0].Role);
        Assert.Equal(1000, request.MaxTokens);
        Assert.Equal(7, limiter.Tokens["tenant-a"]);
    }

    [Fact]
    public async Task ChatCompletions_OpenAiSdkStreaming_RelaysDeltas()
    {
        var (host, _, _) = await GatewayHost.StartScriptedAsync();
        await using var _h = host;
        var client = new ChatClient(GatewayHost.Model, new ApiKeyCredential(GatewayHost.Key), new OpenAIClientOptions { Endpoint = new Uri(host.HttpUri, "/v1") });

        var text = new StringBuilder();
        ChatFinishReason? finish = null;
        await foreach (var update in client.CompleteChatStreamingAsync([new UserChatMessage("Say hello")], cancellationToken: Ct))
        {
            foreach (var part in update.ContentUpdate)
            {
                text.Append(part.Text);
            }

            finish ??= update.FinishReason;
        }

        Assert.Equal("Hello world", text.ToString());
        Assert.Equal(ChatFinishReason.Stop, finish);
    }

    [Fact]
    public async Task ChatCompletions_Streaming_SseFramingAsVllm()
    {
        var (host, pipeline, _) = await GatewayHost.StartScriptedAsync();
        await using var _h = host;
        using var http = host.CreateHttpClient();

        using var response = await http.PostAsync("/v1/chat/completions", Json($$"""{"model":"{{GatewayHost.Model}}","messages":[{"role":"user","content":"hi"}],"stream":true}"""), Ct);
        var body = await response.Content.ReadAsStringAsync(Ct);

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("text/event-stream", response.Content.Headers.ContentType?.MediaType);
        Assert.Equal("enginegeneral", response.Headers.GetValues("x-platform-pool").Single());
        Assert.False(response.Headers.Contains("x-platform-fallback"));
        var events = body.Split("\n\n", StringSplitOptions.RemoveEmptyEntries);
        Assert.All(events, e => Assert.StartsWith("data: ", e, StringComparison.Ordinal));
        Assert.Equal("data: [DONE]", events[^1]);
        Assert.EndsWith("data: [DONE]\n\n", body, StringComparison.Ordinal);
        var chunks = events[..^1].Select(e => JsonDocument.Parse(e["data: ".Length..]).RootElement).ToList();
        Assert.Equal(3, chunks.Count);
        Assert.All(chunks, c => Assert.Equal("chat.completion.chunk", c.GetProperty("object").GetString()));
        Assert.All(chunks, c => Assert.Equal(pipeline.Requests.Single().Id, c.GetProperty("id").GetString()));
        Assert.Equal("assistant", chunks[0].GetProperty("choices")[0].GetProperty("delta").GetProperty("role").GetString());
        Assert.Equal("Hello", chunks[1].GetProperty("choices")[0].GetProperty("delta").GetProperty("content").GetString());
        Assert.Equal(JsonValueKind.Null, chunks[1].GetProperty("choices")[0].GetProperty("finish_reason").ValueKind);
        Assert.Equal("stop", chunks[2].GetProperty("choices")[0].GetProperty("finish_reason").GetString());
        Assert.All(chunks, c => Assert.False(c.TryGetProperty("usage", out _)));
        Assert.False(pipeline.Requests.Single().ClientWantsUsage);
    }

    [Fact]
    public async Task ChatCompletions_IncludeUsage_UsageChunkLastBeforeDone()
    {
        var (host, _, _) = await GatewayHost.StartScriptedAsync();
        await using var _h = host;
        using var http = host.CreateHttpClient();

        using var response = await http.PostAsync("/v1/chat/completions", Json($$"""{"model":"{{GatewayHost.Model}}","messages":[{"role":"user","content":"hi"}],"stream":true,"stream_options":{"include_usage":true} }"""), Ct);
        var events = (await response.Content.ReadAsStringAsync(Ct)).Split("\n\n", StringSplitOptions.RemoveEmptyEntries);

        Assert.Equal("data: [DONE]", events[^1]);
        var usage = JsonDocument.Parse(events[^2]["data: ".Length..]).RootElement;
        Assert.Equal(0, usage.GetProperty("choices").GetArrayLength());
        Assert.Equal(5, usage.GetProperty("usage").GetProperty("prompt_tokens").GetInt32());
        Assert.Equal(2, usage.GetProperty("usage").GetProperty("completion_tokens").GetInt32());
        Assert.Equal(7, usage.GetProperty("usage").GetProperty("total_tokens").GetInt32());
    }

    [Fact]
    public async Task Completions_NonStreamingAndStreaming_TextCompletionShapes()
    {
        var (host, pipeline, _) = await GatewayHost.StartScriptedAsync();
        await using var _h = host;
        using var http = host.CreateHttpClient();

        using var whole = await http.PostAsync("/v1/completions", Json($$"""{"model":"{{GatewayHost.Model}}","prompt":"Once","max_tokens":5}"""), Ct);
        var body = JsonDocument.Parse(await whole.Content.ReadAsStringAsync(Ct)).RootElement;
        Assert.Equal(HttpStatusCode.OK, whole.StatusCode);
        Assert.Equal("text_completion", body.GetProperty("object").GetString());
        Assert.StartsWith("cmpl-", body.GetProperty("id").GetString(), StringComparison.Ordinal);
        Assert.Equal("Hello world", body.GetProperty("choices")[0].GetProperty("text").GetString());
        Assert.Equal("stop", body.GetProperty("choices")[0].GetProperty("finish_reason").GetString());
        Assert.Equal(7, body.GetProperty("usage").GetProperty("total_tokens").GetInt32());
        Assert.Equal("Once", pipeline.Requests.Single().Prompt);
        Assert.Equal(5, pipeline.Requests.Single().MaxTokens);

        using var streamed = await http.PostAsync("/v1/completions", Json($$"""{"model":"{{GatewayHost.Model}}","prompt":["Once"],"stream":true}"""), Ct);
        var events = (await streamed.Content.ReadAsStringAsync(Ct)).Split("\n\n", StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal("data: [DONE]", events[^1]);
        var chunks = events[..^1].Select(e => JsonDocument.Parse(e["data: ".Length..]).RootElement).ToList();
        Assert.Equal(2, chunks.Count);
        Assert.All(chunks, c => Assert.Equal("text_completion", c.GetProperty("object").GetString()));
        Assert.Equal("Hello", chunks[0].GetProperty("choices")[0].GetProperty("text").GetString());
        Assert.Equal("stop", chunks[1].GetProperty("choices")[0].GetProperty("finish_reason").GetString());
    }

    [Fact]
    public async Task Models_ListsOnlyModelsTheKeyMayUse_WithMaxModelLen()
    {
        var (host, _, _) = await GatewayHost.StartScriptedAsync();
        await using var _h = host;
        var client = new OpenAIClient(new ApiKeyCredential(GatewayHost.Key), new OpenAIClientOptions { Endpoint = new Uri(host.HttpUri, "/v1") });

        var all = await client.GetOpenAIModelClient().GetModelsAsync(Ct);
        Assert.Equal([GatewayHost.Model, GatewayHost.FallbackModel], all.Value.Select(m => m.Id).Order());

        using var http = host.CreateHttpClient(GatewayHost.PhiOnlyKey);
        var body = JsonDocument.Parse(await http.GetStringAsync("/v1/models", Ct)).RootElement;
        var model = Assert.Single(body.GetProperty("data").EnumerateArray());
        Assert.Equal(GatewayHost.FallbackModel, model.GetProperty("id").GetString());
        Assert.Equal(4096, model.GetProperty("max_model_len").GetInt32());
        Assert.Equal("model", model.GetProperty("object").GetString());
    }

    [Fact]
    public async Task Fallback_SetsHeaderAndServedModel()
    {
        var (host, pipeline, _) = await GatewayHost.StartScriptedAsync();
        await using var _h = host;
        pipeline.Script = (r, ct) => ScriptedPipeline.Hello(r, ct, fallback: true);
        using var http = host.CreateHttpClient();

        using var response = await http.PostAsync("/v1/chat/completions", Json($$"""{"model":"{{GatewayHost.Model}}","messages":[{"role":"user","content":"hi"}]}"""), Ct);

        Assert.Equal("true", response.Headers.GetValues("x-platform-fallback").Single());
        Assert.Equal("enginefallback", response.Headers.GetValues("x-platform-pool").Single());
        var body = JsonDocument.Parse(await response.Content.ReadAsStringAsync(Ct)).RootElement;
        Assert.Equal(GatewayHost.FallbackModel, body.GetProperty("model").GetString());
    }

    [Fact]
    public async Task FailureBeforeContent_ErrorStatusAndBody()
    {
        var (host, pipeline, _) = await GatewayHost.StartScriptedAsync();
        await using var _h = host;
        pipeline.Script = (_, _) => ScriptedPipeline.Fail(new GatewayError(503, "service_unavailable", "No engine can take the request.", null, "no_engine_available", TimeSpan.FromSeconds(2)), afterContent: false);
        using var http = host.CreateHttpClient();

        using var response = await http.PostAsync("/v1/chat/completions", Json($$"""{"model":"{{GatewayHost.Model}}","messages":[{"role":"user","content":"hi"}],"stream":true}"""), Ct);

        await ErrorBody.AssertAsync(response, 503, code: "no_engine_available");
        Assert.Equal(TimeSpan.FromSeconds(2), response.Headers.RetryAfter?.Delta);
    }

    [Fact]
    public async Task FailureAfterContent_ErrorEventAndNoDone()
    {
        var (host, pipeline, _) = await GatewayHost.StartScriptedAsync();
        await using var _h = host;
        pipeline.Script = (_, _) => ScriptedPipeline.Fail(new GatewayError(502, "server_error", "The engine failed mid-stream and the generation could not be continued.", null, "stream_interrupted"), afterContent: true);
        using var http = host.CreateHttpClient();

        using var response = await http.PostAsync("/v1/chat/completions", Json($$"""{"model":"{{GatewayHost.Model}}","messages":[{"role":"user","content":"hi"}],"stream":true}"""), Ct);
        var body = await response.Content.ReadAsStringAsync(Ct);

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.DoesNotContain("[DONE]", body, StringComparison.Ordinal);
        var last = body.Split("\n\n", StringSplitOptions.RemoveEmptyEntries)[^1];
        var error = JsonDocument.Parse(last["data: ".Length..]).RootElement.GetProperty("error");
        Assert.Equal("stream_interrupted", error.GetProperty("code").GetString());
    }

    [Fact]
    public async Task ClientDisconnect_CancelsPipeline()
    {
        var (host, pipeline, _) = await GatewayHost.StartScriptedAsync();
        await using var _h = host;
        pipeline.Script = pipeline.HangAfterFirstPiece;
        using var http = host.CreateHttpClient();
        using var request = new HttpRequestMessage(HttpMethod.Post, "/v1/chat/completions")
        {
            Content = Json($$"""{"model":"{{GatewayHost.Model}}","messages":[{"role":"user","content":"hi"}],"stream":true}"""),
        };

        using (var response = await http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, Ct))
        {
            using var reader = new StreamReader(await response.Content.ReadAsStreamAsync(Ct));
            var first = await reader.ReadLineAsync(Ct);
            Assert.StartsWith("data: ", first, StringComparison.Ordinal);
        }

        await pipeline.Cancelled.Task.WaitAsync(TimeSpan.FromSeconds(10), Ct);
    }

    [Fact]
    public async Task N_WithOnlySpeculativePools_400NamingN()
    {
        var (host, pipeline, _) = await GatewayHost.StartScriptedAsync();
        await using var _h = host;
        using var http = host.CreateHttpClient();

        using var response = await http.PostAsync("/v1/chat/completions", Json($$"""{"model":"{{GatewayHost.Model}}","messages":[{"role":"user","content":"hi"}],"n":2}"""), Ct);
        await ErrorBody.AssertAsync(response, 400, param: "n", code: "unsupported_parameter");

        using var phi = await http.PostAsync("/v1/chat/completions", Json($$"""{"model":"{{GatewayHost.FallbackModel}}","messages":[{"role":"user","content":"hi"}],"n":2}"""), Ct);
        Assert.Equal(HttpStatusCode.OK, phi.StatusCode);
        var request = Assert.Single(pipeline.Requests);
        Assert.True(request.RequiresNoSpeculation);
        Assert.Equal(2, request.Choices);
        var body = JsonDocument.Parse(await phi.Content.ReadAsStringAsync(Ct)).RootElement;
        Assert.Equal(2, body.GetProperty("choices").GetArrayLength());
    }

    [Fact]
    public async Task MaxTokens_AboveKeyCeiling_ClampedToCeiling()
    {
        var (host, pipeline, _) = await GatewayHost.StartScriptedAsync();
        await using var _h = host;
        using var http = host.CreateHttpClient();

        using var response = await http.PostAsync("/v1/chat/completions", Json($$"""{"model":"{{GatewayHost.Model}}","messages":[{"role":"user","content":"hi"}],"max_completion_tokens":5000}"""), Ct);

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var request = Assert.Single(pipeline.Requests);
        Assert.Equal(1000, request.MaxTokens);
        Assert.Equal(1000, (int)request.Body["max_tokens"]!);
        Assert.False(request.Body.ContainsKey("max_completion_tokens"));
    }
}
