using System.ClientModel;
using System.Text;
using OpenAI.Chat;
using Platform.EngineSim.Tests.Fixtures;

#pragma warning disable OPENAI001 // ChatCompletionOptions.Seed is marked experimental in the SDK.

namespace Platform.EngineSim.Tests.Api;

/// <summary>POST /v1/chat/completions through the official OpenAI SDK and raw HTTP, framed as vLLM frames it.</summary>
public sealed class ChatCompletionsTests
{
    internal const string CommandLine = "--model sim/llama-3.1-8b --served-model-name llama-3.1-8b-instruct llama --max-model-len 512 --num-gpu-blocks-override 256 --sim-speedup 50";

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task CompleteChat_Sdk_ReturnsAssistantMessageWithUsage()
    {
        await using var server = await EngineSimServer.StartAsync(CommandLine);
        var chat = server.OpenAi().GetChatClient("llama-3.1-8b-instruct");

        ChatCompletion completion = await chat.CompleteChatAsync(
            [new SystemChatMessage("You are terse."), new UserChatMessage("Tell me about foxes.")],
            new ChatCompletionOptions { MaxOutputTokenCount = 12 },
            Ct);

        Assert.StartsWith("chatcmpl-", completion.Id, StringComparison.Ordinal);
        Assert.Equal("llama-3.1-8b-instruct", completion.Model);
        Assert.Equal(ChatMessageRole.Assistant, completion.Role);
        Assert.NotEmpty(completion.Content[0].Text);
        Assert.True(completion.FinishReason is ChatFinishReason.Length or ChatFinishReason.Stop);
        Assert.InRange(completion.Usage.OutputTokenCount, 1, 12);
        Assert.Equal(completion.FinishReason == ChatFinishReason.Length, completion.Usage.OutputTokenCount == 12);
        Assert.True(completion.Usage.InputTokenCount > 10);
        Assert.Equal(completion.Usage.InputTokenCount + completion.Usage.OutputTokenCount, completion.Usage.TotalTokenCount);
    }

    [Fact]
    public async Task CompleteChatStreaming_Sdk_DeliversDeltasFinishReasonAndUsage()
    {
        await using var server = await EngineSimServer.StartAsync(CommandLine);
        var chat = server.OpenAi().GetChatClient("llama");
        var text = new StringBuilder();
        ChatFinishReason? finish = null;
        ChatTokenUsage? usage = null;
        var updates = 0;

        await foreach (var update in chat.CompleteChatStreamingAsync(
            [new UserChatMessage("Write a sentence.")], new ChatCompletionOptions { MaxOutputTokenCount = 10 }, Ct))
        {
            updates++;
            foreach (var part in update.ContentUpdate)
            {
                text.Append(part.Text);
            }

            finish ??= update.FinishReason;
            usage ??= update.Usage;
        }

        Assert.NotNull(usage);
        Assert.True(updates >= 2);
        Assert.NotEmpty(text.ToString());
        Assert.True(finish is ChatFinishReason.Length or ChatFinishReason.Stop);
        Assert.InRange(usage.OutputTokenCount, 1, 10);
        Assert.Equal(finish == ChatFinishReason.Length, usage.OutputTokenCount == 10);
    }

    [Fact]
    public async Task CompleteChat_StopString_FinishesWithStopAndStopReason()
    {
        await using var server = await EngineSimServer.StartAsync(CommandLine, scripted: true);
        var (status, body) = await Sse.PostJsonAsync(server.Http, "v1/chat/completions",
            """{"model":"llama","messages":[{"role":"user","content":"go"}],"max_tokens":200,"stop":[" fox"," dog"],"seed":3}""");

        Assert.Equal(200, status);
        var choice = body.GetProperty("choices")[0];
        Assert.Equal("stop", choice.GetProperty("finish_reason").GetString());
        var stopReason = choice.GetProperty("stop_reason").GetString();
        Assert.Contains(stopReason, new[] { " fox", " dog" });
        Assert.DoesNotContain(stopReason!, choice.GetProperty("message").GetProperty("content").GetString()!, StringComparison.Ordinal);
    }

    [Fact]
    public async Task CompleteChat_SameSeed_SameText()
    {
        await using var server = await EngineSimServer.StartAsync(CommandLine);
        var chat = server.OpenAi().GetChatClient("llama");
        var options = new ChatCompletionOptions { MaxOutputTokenCount = 24, Seed = 1234, Temperature = 0.8f };

        var first = await chat.CompleteChatAsync([new UserChatMessage("Describe the sea.")], options, Ct);
        var second = await chat.CompleteChatAsync([new UserChatMessage("Describe the sea.")], options, Ct);

        Assert.Equal(first.Value.Content[0].Text, second.Value.Content[0].Text);
    }

    [Fact]
    public async Task CompleteChat_RawBody_HasVllmShape()
    {
        await using var server = await EngineSimServer.StartAsync(CommandLine, scripted: true);
        var (status, body) = await Sse.PostJsonAsync(server.Http, "v1/chat/completions",
            """{"model":"llama","messages":[{"role":"user","content":"hi"}],"max_completion_tokens":5,"unknown_field":1}""");

        Assert.Equal(200, status);
        Assert.Equal(["id", "object", "created", "model", "choices", "service_tier", "system_fingerprint", "usage", "prompt_logprobs", "kv_transfer_params"], Sse.Keys(body));
        Assert.Equal("chat.completion", body.GetProperty("object").GetString());
        Assert.Matches("^chatcmpl-[0-9a-f]{32}$", body.GetProperty("id").GetString());
        Assert.Equal("llama-3.1-8b-instruct", body.GetProperty("model").GetString());
        var choice = body.GetProperty("choices")[0];
        Assert.Equal(["index", "message", "logprobs", "finish_reason", "stop_reason"], Sse.Keys(choice));
        Assert.Equal(["role", "content", "refusal", "annotations", "audio", "function_call", "tool_calls", "reasoning_content"], Sse.Keys(choice.GetProperty("message")));
        Assert.Equal("length", choice.GetProperty("finish_reason").GetString());
        var usage = body.GetProperty("usage");
        Assert.Equal(["prompt_tokens", "total_tokens", "completion_tokens", "prompt_tokens_details"], Sse.Keys(usage));
        Assert.Equal(5, usage.GetProperty("completion_tokens").GetInt32());
        Assert.Equal(0, usage.GetProperty("prompt_tokens_details").GetProperty("cached_tokens").GetInt32());
    }

    [Fact]
    public async Task CompleteChatStream_Raw_RoleFirstFinishOnLastContentUsageThenDone()
    {
        await using var server = await EngineSimServer.StartAsync(CommandLine, scripted: true);
        using var response = await Sse.PostAsync(server.Http, "v1/chat/completions",
            """{"model":"llama","messages":[{"role":"user","content":"hi"}],"max_tokens":6,"stream":true,"stream_options":{"include_usage":true}}""");
        var events = await Sse.ReadEventsAsync(response);

        Assert.Equal("[DONE]", events[^1]);
        var chunks = events[..^1].Select(Sse.Json).ToList();
        var id = chunks[0].GetProperty("id").GetString();
        Assert.All(chunks, c =>
        {
            Assert.Equal(id, c.GetProperty("id").GetString());
            Assert.Equal("chat.completion.chunk", c.GetProperty("object").GetString());
            Assert.Equal("llama-3.1-8b-instruct", c.GetProperty("model").GetString());
        });

        var role = chunks[0].GetProperty("choices")[0];
        Assert.Equal("""{"role":"assistant","content":""}""", role.GetProperty("delta").GetRawText());
        Assert.Equal(System.Text.Json.JsonValueKind.Null, role.GetProperty("finish_reason").ValueKind);

        var content = chunks[1..^1];
        Assert.Equal(6, content.Count);
        Assert.All(content[..^1], c => Assert.Equal(System.Text.Json.JsonValueKind.Null, c.GetProperty("choices")[0].GetProperty("finish_reason").ValueKind));
        Assert.All(content[..^1], c => Assert.False(c.GetProperty("choices")[0].TryGetProperty("stop_reason", out _)));
        var last = content[^1].GetProperty("choices")[0];
        Assert.Equal("length", last.GetProperty("finish_reason").GetString());
        Assert.Equal(System.Text.Json.JsonValueKind.Null, last.GetProperty("stop_reason").ValueKind);
        Assert.All(content, c => Assert.False(c.TryGetProperty("usage", out _)));

        var usageChunk = chunks[^1];
        Assert.Equal(0, usageChunk.GetProperty("choices").GetArrayLength());
        Assert.Equal(6, usageChunk.GetProperty("usage").GetProperty("completion_tokens").GetInt32());
    }

    [Fact]
    public async Task CompleteChatStream_ContinuousUsageStats_UsageOnEveryChunk()
    {
        await using var server = await EngineSimServer.StartAsync(CommandLine, scripted: true);
        using var response = await Sse.PostAsync(server.Http, "v1/chat/completions",
            """{"messages":[{"role":"user","content":"hi"}],"max_tokens":3,"stream":true,"stream_options":{"include_usage":true,"continuous_usage_stats":true}}""");
        var chunks = (await Sse.ReadEventsAsync(response))[..^1].Select(Sse.Json).ToList();

        Assert.Equal([0, 1, 2, 3, 3], chunks.Select(c => c.GetProperty("usage").GetProperty("completion_tokens").GetInt32()));
    }

    [Fact]
    public async Task CompleteChat_NGreaterThanOne_ReturnsDistinctChoices()
    {
        await using var server = await EngineSimServer.StartAsync(CommandLine, scripted: true);
        var (status, body) = await Sse.PostJsonAsync(server.Http, "v1/chat/completions",
            """{"messages":[{"role":"user","content":"hi"}],"max_tokens":8,"n":3,"seed":5}""");

        Assert.Equal(200, status);
        var choices = body.GetProperty("choices").EnumerateArray().ToList();
        Assert.Equal([0, 1, 2], choices.Select(c => c.GetProperty("index").GetInt32()));
        Assert.Equal(3, choices.Select(c => c.GetProperty("message").GetProperty("content").GetString()).Distinct().Count());
        Assert.Equal(24, body.GetProperty("usage").GetProperty("completion_tokens").GetInt32());
    }

    [Fact]
    public async Task CompleteChatStream_NGreaterThanOne_RoleChunkPerChoiceThenFinishPerChoice()
    {
        await using var server = await EngineSimServer.StartAsync(CommandLine, scripted: true);
        using var response = await Sse.PostAsync(server.Http, "v1/chat/completions",
            """{"messages":[{"role":"user","content":"hi"}],"max_tokens":4,"n":2,"stream":true}""");
        var chunks = (await Sse.ReadEventsAsync(response))[..^1].Select(Sse.Json).Select(c => c.GetProperty("choices")[0]).ToList();

        Assert.Equal([0, 1], chunks[..2].Select(c => c.GetProperty("index").GetInt32()));
        Assert.All(chunks[..2], c => Assert.Equal("assistant", c.GetProperty("delta").GetProperty("role").GetString()));
        Assert.Equal(2, chunks.Count(c => c.GetProperty("finish_reason").ValueKind == System.Text.Json.JsonValueKind.String));
        Assert.Equal(10, chunks.Count);
    }

    [Fact]
    public async Task CompleteChat_Logprobs_ContentWithTopLogprobs()
    {
        await using var server = await EngineSimServer.StartAsync(CommandLine, scripted: true);
        var (_, body) = await Sse.PostJsonAsync(server.Http, "v1/chat/completions",
            """{"messages":[{"role":"user","content":"hi"}],"max_tokens":3,"logprobs":true,"top_logprobs":2}""");

        var content = body.GetProperty("choices")[0].GetProperty("logprobs").GetProperty("content");
        Assert.Equal(3, content.GetArrayLength());
        var first = content[0];
        Assert.Equal(["token", "logprob", "bytes", "top_logprobs"], Sse.Keys(first));
        Assert.Equal(Encoding.UTF8.GetBytes(first.GetProperty("token").GetString()!), first.GetProperty("bytes").EnumerateArray().Select(b => (byte)b.GetInt32()));
        Assert.Equal(2, first.GetProperty("top_logprobs").GetArrayLength());
    }

    [Fact]
    public async Task CompleteChat_ContinueFinalMessage_LeavesAssistantTurnOpen()
    {
        await using var server = await EngineSimServer.StartAsync(CommandLine, scripted: true);
        const string Messages = """[{"role":"user","content":"Count."},{"role":"assistant","content":"One, two,"}]""";

        var (status, _) = await Sse.PostJsonAsync(server.Http, "v1/chat/completions",
            $$"""{"messages":{{Messages}},"max_tokens":3,"add_generation_prompt":false,"continue_final_message":true}""");
        var (_, tokenized) = await Sse.PostJsonAsync(server.Http, "tokenize",
            $$"""{"messages":{{Messages}},"add_generation_prompt":false,"continue_final_message":true}""");
        var (_, detokenized) = await Sse.PostJsonAsync(server.Http, "detokenize", $$"""{"tokens":{{tokenized.GetProperty("tokens").GetRawText()}}}""");

        Assert.Equal(200, status);
        Assert.EndsWith("<|start_header_id|>assistant<|end_header_id|>\n\nOne, two,", detokenized.GetProperty("prompt").GetString(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task CompleteChat_ContinueFinalMessageAndGenerationPrompt_Is400()
    {
        await using var server = await EngineSimServer.StartAsync(CommandLine, scripted: true);
        var (status, body) = await Sse.PostJsonAsync(server.Http, "v1/chat/completions",
            """{"messages":[{"role":"assistant","content":"x"}],"continue_final_message":true}""");

        Assert.Equal(400, status);
        Assert.Contains("Cannot set both `continue_final_message` and `add_generation_prompt` to True.", body.GetProperty("error").GetProperty("message").GetString(), StringComparison.Ordinal);
    }
}
