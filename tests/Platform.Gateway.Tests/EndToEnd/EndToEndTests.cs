extern alias client;

using System.ClientModel;
using System.Net;
using System.Text;
using System.Text.Json;
using client::Platform.Client;
using client::Platform.Inference.V1;
using Grpc.Core;
using Grpc.Net.Client;
using Microsoft.Extensions.AI;
using OpenAI;
using OpenAI.Chat;
using Platform.Gateway.Tests.Api;
using Platform.Gateway.Tests.Fixtures.Engines;
using Platform.Gateway.Tests.Fixtures.Stack;
using AiChatMessage = Microsoft.Extensions.AI.ChatMessage;
using AiChatRole = Microsoft.Extensions.AI.ChatRole;
using ChatFinishReason = OpenAI.Chat.ChatFinishReason;
using ProtoChatMessage = client::Platform.Inference.V1.ChatMessage;

namespace Platform.Gateway.Tests.EndToEnd;

/// <summary>Clients → gateway → real EngineSim processes, with real Redis: the OpenAI SDK, raw HTTP, gRPC and IChatClient.</summary>
public sealed class EndToEndTests(PlatformStack stack) : IClassFixture<PlatformStack>
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private OpenAIClientOptions SdkOptions => new() { Endpoint = new Uri(stack.Gateway.HttpUri, "/v1") };

    [Fact]
    public async Task OpenAiSdk_ChatNonStreaming_UsageMatchesLength()
    {
        var chat = new ChatClient(GatewayHost.Model, new ApiKeyCredential(GatewayHost.Key), SdkOptions);

        ChatCompletion completion = await chat.CompleteChatAsync(
            [new SystemChatMessage("You are brief."), new UserChatMessage("Tell me about the sea.")],
            new ChatCompletionOptions { MaxOutputTokenCount = 12, Temperature = 0.7f },
            Ct);

        Assert.False(string.IsNullOrWhiteSpace(completion.Content[0].Text));
        Assert.Equal(ChatFinishReason.Length, completion.FinishReason);
        Assert.Equal(12, completion.Usage.OutputTokenCount);
        Assert.True(completion.Usage.InputTokenCount > 5);
        Assert.Equal(GatewayHost.Model, completion.Model);
    }

    [Fact]
    public async Task OpenAiSdk_ChatStreaming_TextEqualsConcatenatedDeltas()
    {
        var chat = new ChatClient(GatewayHost.Model, new ApiKeyCredential(GatewayHost.Key), SdkOptions);
        var text = new StringBuilder();
        var updates = 0;
        ChatTokenUsage? usage = null;
        ChatFinishReason? finish = null;

        await foreach (var update in chat.CompleteChatStreamingAsync(
            [new UserChatMessage("Write a short poem about rivers.")],
            new ChatCompletionOptions { MaxOutputTokenCount = 20 },
            Ct))
        {
            updates++;
            foreach (var part in update.ContentUpdate)
            {
                text.Append(part.Text);
            }

            usage ??= update.Usage;
            finish ??= update.FinishReason;
        }

        Assert.True(updates > 3, $"only {updates} updates");
        Assert.False(string.IsNullOrWhiteSpace(text.ToString()));
        Assert.Equal(ChatFinishReason.Length, finish);

        // The SDK asks for stream_options.include_usage, so the usage chunk comes (it is stripped when not asked).
        Assert.Equal(20, usage?.OutputTokenCount);
    }

    [Fact]
    public async Task OpenAiSdk_Completions_TextCompletion()
    {
        using var http = stack.Gateway.CreateHttpClient();

        using var response = await http.PostAsync(
            "/v1/completions",
            new StringContent($$"""{"model":"{{GatewayHost.FallbackModel}}","prompt":"Once upon a time","max_tokens":6}""", Encoding.UTF8, "application/json"),
            Ct);
        var body = JsonDocument.Parse(await response.Content.ReadAsStringAsync(Ct)).RootElement;

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("enginefallback", response.Headers.GetValues("x-platform-pool").Single());
        Assert.Equal("text_completion", body.GetProperty("object").GetString());
        Assert.Equal(6, body.GetProperty("usage").GetProperty("completion_tokens").GetInt32());
        Assert.False(string.IsNullOrEmpty(body.GetProperty("choices")[0].GetProperty("text").GetString()));
    }

    [Fact]
    public async Task RawHttp_StreamingWithUsage_ExactSseFraming()
    {
        using var http = stack.Gateway.CreateHttpClient();
        using var request = new HttpRequestMessage(HttpMethod.Post, "/v1/chat/completions")
        {
            Content = new StringContent(
                $$"""{"model":"{{GatewayHost.Model}}","messages":[{"role":"user","content":"hello there"}],"max_tokens":8,"stream":true,"stream_options":{"include_usage":true} }""",
                Encoding.UTF8,
                "application/json"),
        };

        using var response = await http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, Ct);
        var body = await response.Content.ReadAsStringAsync(Ct);

        Assert.Equal("text/event-stream", response.Content.Headers.ContentType?.MediaType);
        Assert.EndsWith("data: [DONE]\n\n", body, StringComparison.Ordinal);
        var events = body.Split("\n\n", StringSplitOptions.RemoveEmptyEntries);
        Assert.All(events, e => Assert.StartsWith("data: ", e, StringComparison.Ordinal));
        var chunks = events[..^1].Select(e => JsonDocument.Parse(e[6..]).RootElement).ToList();
        Assert.Equal("assistant", chunks[0].GetProperty("choices")[0].GetProperty("delta").GetProperty("role").GetString());
        var usage = chunks[^1];
        Assert.Equal(0, usage.GetProperty("choices").GetArrayLength());
        Assert.Equal(8, usage.GetProperty("usage").GetProperty("completion_tokens").GetInt32());
        Assert.Equal("length", chunks[^2].GetProperty("choices")[0].GetProperty("finish_reason").GetString());
        Assert.Single(chunks.Select(c => c.GetProperty("id").GetString()).Distinct());
    }

    [Fact]
    public async Task RawHttp_Streaming_ServerTimingSplitsGatewayAndEngineAndOverheadIsMeasured()
    {
        using var http = stack.Gateway.CreateHttpClient();
        using var request = new HttpRequestMessage(HttpMethod.Post, "/v1/chat/completions")
        {
            Content = new StringContent(
                $$"""{"model":"{{GatewayHost.Model}}","messages":[{"role":"user","content":"timing please"}],"max_tokens":4,"stream":true}""",
                Encoding.UTF8,
                "application/json"),
        };
        var started = System.Diagnostics.Stopwatch.GetTimestamp();

        using var response = await http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, Ct);
        var elapsedMs = System.Diagnostics.Stopwatch.GetElapsedTime(started).TotalMilliseconds;
        await response.Content.ReadAsStringAsync(Ct);

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var timing = Assert.Single(response.Headers.GetValues("Server-Timing"));
        var match = System.Text.RegularExpressions.Regex.Match(timing, @"^gateway;dur=(\d+\.\d{3}), engine;dur=(\d+\.\d{3})$");
        Assert.True(match.Success, timing);
        var gatewayMs = double.Parse(match.Groups[1].Value, System.Globalization.CultureInfo.InvariantCulture);
        var engineMs = double.Parse(match.Groups[2].Value, System.Globalization.CultureInfo.InvariantCulture);
        Assert.True(engineMs > 0, timing);
        Assert.True(gatewayMs + engineMs <= elapsedMs, $"{timing} within the client's {elapsedMs:F3} ms to headers");

        var metrics = string.Empty;
        await Poll.UntilAsync(
            async () => (metrics = await http.GetStringAsync("/metrics", Ct)).Contains("platform_gateway_overhead_seconds_count{", StringComparison.Ordinal),
            TimeSpan.FromSeconds(10),
            "the overhead histogram in /metrics");
        Assert.Matches("platform_gateway_overhead_seconds_count\\{[^}]*platform_frontend=\"http\"[^}]*\\} [1-9]", metrics);
    }

    [Fact]
    public async Task OpenAiSdk_Models_ListsCatalogModels()
    {
        var client = new OpenAIClient(new ApiKeyCredential(GatewayHost.Key), SdkOptions);

        var models = await client.GetOpenAIModelClient().GetModelsAsync(Ct);

        Assert.Equal([GatewayHost.Model, GatewayHost.FallbackModel], models.Value.Select(m => m.Id).Order());
    }

    [Fact]
    public async Task Grpc_GenerateCompleteListModels()
    {
        using var channel = GrpcChannel.ForAddress(stack.Gateway.GrpcUri);
        var client = new PlatformInferenceClient(channel, GatewayHost.Key);
        var request = new GenerateRequest { Model = GatewayHost.Model, MaxTokens = 10, Messages = { new ProtoChatMessage { Role = "user", Content = "Tell me about mountains." } } };

        var text = new StringBuilder();
        Finish? finish = null;
        await foreach (var message in client.GenerateAsync(request, cancellationToken: Ct))
        {
            if (message.EventCase == GenerateResponse.EventOneofCase.Delta)
            {
                text.Append(message.Delta.Text);
            }
            else
            {
                finish = message.Finish;
            }
        }

        Assert.NotNull(finish);
        Assert.Equal(FinishReason.Length, finish.FinishReason);
        Assert.Equal(10, finish.Usage.CompletionTokens);
        Assert.Equal("enginegeneral", finish.Routing.Pool);
        Assert.StartsWith("enginegeneral-", finish.Routing.Engine, StringComparison.Ordinal);
        Assert.False(string.IsNullOrWhiteSpace(text.ToString()));

        var complete = await client.CompleteAsync(request, cancellationToken: Ct);
        Assert.Equal(10, complete.Usage.CompletionTokens);
        Assert.False(string.IsNullOrWhiteSpace(complete.Text));

        var models = await client.ListModelsAsync(Ct);
        Assert.Equal(2, models.Count);
    }

    [Fact]
    public async Task Grpc_DeadlineExceeded_EngineRequestCancelled()
    {
        using var channel = GrpcChannel.ForAddress(stack.Gateway.GrpcUri);
        var client = new PlatformInferenceClient(channel, GatewayHost.Key);
        var request = new GenerateRequest { Model = GatewayHost.Model, MaxTokens = 4000, Messages = { new ProtoChatMessage { Role = "user", Content = "Write a very long story." } } };

        foreach (var engine in stack.General)
        {
            await engine.SetFaultsAsync(new { slowdown = 50 });
        }

        try
        {
            var error = await Assert.ThrowsAsync<RpcException>(async () =>
            {
                await foreach (var _ in client.GenerateAsync(request, DateTime.UtcNow.AddMilliseconds(400), Ct))
                {
                }
            });

            Assert.Equal(StatusCode.DeadlineExceeded, error.StatusCode);
            await WaitForIdleEnginesAsync();
        }
        finally
        {
            foreach (var engine in stack.General)
            {
                await engine.SetFaultsAsync(new { });
            }
        }
    }

    [Fact]
    public async Task Grpc_ClientCancel_EngineRequestCancelled()
    {
        using var channel = GrpcChannel.ForAddress(stack.Gateway.GrpcUri);
        var client = new PlatformInferenceClient(channel, GatewayHost.Key);
        var request = new GenerateRequest { Model = GatewayHost.Model, MaxTokens = 4000, Messages = { new ProtoChatMessage { Role = "user", Content = "Write a very long story." } } };
        using var cts = CancellationTokenSource.CreateLinkedTokenSource(Ct);

        await Assert.ThrowsAnyAsync<Exception>(async () =>
        {
            await foreach (var message in client.GenerateAsync(request, cancellationToken: cts.Token))
            {
                await cts.CancelAsync();
            }
        });

        await WaitForIdleEnginesAsync();
    }

    [Fact]
    public async Task ChatClient_OverGrpc_ResponseAndStreaming()
    {
        using var channel = GrpcChannel.ForAddress(stack.Gateway.GrpcUri);
        using IChatClient chat = new PlatformChatClient(new PlatformInferenceClient(channel, GatewayHost.Key), GatewayHost.Model);

        var response = await chat.GetResponseAsync([new AiChatMessage(AiChatRole.User, "Explain tides.")], new ChatOptions { MaxOutputTokens = 9 }, Ct);
        Assert.Equal(9, response.Usage?.OutputTokenCount);
        Assert.Equal(Microsoft.Extensions.AI.ChatFinishReason.Length, response.FinishReason);
        Assert.False(string.IsNullOrWhiteSpace(response.Text));

        var updates = new List<ChatResponseUpdate>();
        await foreach (var update in chat.GetStreamingResponseAsync("Explain waves.", new ChatOptions { MaxOutputTokens = 7 }, Ct))
        {
            updates.Add(update);
        }

        var streamed = updates.ToChatResponse();
        Assert.Equal(7, streamed.Usage?.OutputTokenCount);
        Assert.False(string.IsNullOrWhiteSpace(streamed.Text));
    }

    [Fact]
    public async Task HostileInput_NeverReachesAnEngine()
    {
        var before = await stack.PromptTokensAsync();
        using var http = stack.Gateway.CreateHttpClient();
        string[] bodies =
        [
            "{not json",
            "{\"model\":\"" + GatewayHost.Model + "\",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}],\"max_tokens\":-1}",
            "{\"model\":\"" + GatewayHost.Model + "\",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}],\"temperature\":99}",
            "{\"model\":\"" + GatewayHost.Model + "\",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}],\"n\":1000}",
            "{\"model\":\"" + GatewayHost.Model + "\",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}],\"n\":2}",
            "{\"model\":\"unknown\",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}",
            "{\"model\":\"" + GatewayHost.Model + "\",\"messages\":[{\"role\":\"robot\",\"content\":\"hi\"}]}",
            "{\"model\":\"" + GatewayHost.Model + "\",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}],\"max_tokens\":1000000000000}",
        ];

        foreach (var body in bodies)
        {
            using var response = await http.PostAsync("/v1/chat/completions", new StringContent(body, Encoding.UTF8, "application/json"), Ct);
            var status = (int)response.StatusCode;
            Assert.InRange(status, 400, 499);
            await ErrorBody.AssertAsync(response, status);
        }

        using var noKey = stack.Gateway.CreateHttpClient(key: null);
        using (var unauthorized = await noKey.PostAsync("/v1/chat/completions", new StringContent(bodies[1], Encoding.UTF8, "application/json"), Ct))
        {
            await ErrorBody.AssertAsync(unauthorized, 401);
        }

        Assert.Equal(before, await stack.PromptTokensAsync());
    }

    private async Task WaitForIdleEnginesAsync()
    {
        using var http = new HttpClient();
        await Poll.UntilAsync(
            async () =>
            {
                var running = 0.0;
                foreach (var engine in stack.Engines)
                {
                    var text = await http.GetStringAsync(new Uri(engine.BaseUri, "metrics"), Ct);
                    running += text.Split('\n')
                        .Where(l => l.StartsWith("vllm:num_requests_running", StringComparison.Ordinal))
                        .Sum(l => double.Parse(l[(l.LastIndexOf(' ') + 1)..], System.Globalization.CultureInfo.InvariantCulture));
                }

                return running == 0;
            },
            TimeSpan.FromSeconds(10),
            "the engines to drop the cancelled request");
    }
}
