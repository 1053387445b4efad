using System.Text.Json;
using Platform.EngineSim.Tests.Fixtures;

namespace Platform.EngineSim.Tests.Api;

/// <summary>POST /v1/completions over raw HTTP: vLLM's CompletionResponse and its stream chunks.</summary>
public sealed class CompletionsTests
{
    private const string CommandLine = ChatCompletionsTests.CommandLine;

    [Fact]
    public async Task Complete_Raw_HasVllmShape()
    {
        await using var server = await EngineSimServer.StartAsync(CommandLine, scripted: true);
        var (status, body) = await Sse.PostJsonAsync(server.Http, "v1/completions", """{"model":"llama","prompt":"Once upon a time","max_tokens":7}""");

        Assert.Equal(200, status);
        Assert.Equal(["id", "object", "created", "model", "choices", "service_tier", "system_fingerprint", "usage", "kv_transfer_params"], Sse.Keys(body));
        Assert.Matches("^cmpl-[0-9a-f]{32}$", body.GetProperty("id").GetString());
        Assert.Equal("text_completion", body.GetProperty("object").GetString());
        var choice = body.GetProperty("choices")[0];
        Assert.Equal(["index", "text", "logprobs", "finish_reason", "stop_reason", "prompt_logprobs"], Sse.Keys(choice));
        Assert.Equal("length", choice.GetProperty("finish_reason").GetString());
        Assert.Equal(7, body.GetProperty("usage").GetProperty("completion_tokens").GetInt32());
        Assert.Equal(4, body.GetProperty("usage").GetProperty("prompt_tokens").GetInt32());
    }

    [Fact]
    public async Task Complete_NoMaxTokens_DefaultsTo16()
    {
        await using var server = await EngineSimServer.StartAsync(CommandLine, scripted: true);
        var (_, body) = await Sse.PostJsonAsync(server.Http, "v1/completions", """{"prompt":"Hello"}""");

        Assert.Equal(16, body.GetProperty("usage").GetProperty("completion_tokens").GetInt32());
    }

    [Fact]
    public async Task CompleteStream_Raw_ChunksCarryNullsThenUsageThenDone()
    {
        await using var server = await EngineSimServer.StartAsync(CommandLine, scripted: true);
        using var response = await Sse.PostAsync(server.Http, "v1/completions",
            """{"prompt":"Hello","max_tokens":4,"stream":true,"stream_options":{"include_usage":true}}""");
        var events = await Sse.ReadEventsAsync(response);

        Assert.Equal("[DONE]", events[^1]);
        var chunks = events[..^1].Select(Sse.Json).ToList();
        Assert.Equal(5, chunks.Count);
        foreach (var chunk in chunks[..^1])
        {
            Assert.Equal(["id", "object", "created", "model", "choices", "usage"], Sse.Keys(chunk));
            Assert.Equal(JsonValueKind.Null, chunk.GetProperty("usage").ValueKind);
            Assert.Equal(["index", "text", "logprobs", "finish_reason", "stop_reason"], Sse.Keys(chunk.GetProperty("choices")[0]));
        }

        Assert.Equal("length", chunks[^2].GetProperty("choices")[0].GetProperty("finish_reason").GetString());
        Assert.Equal(0, chunks[^1].GetProperty("choices").GetArrayLength());
        Assert.Equal(["prompt_tokens", "total_tokens", "completion_tokens", "prompt_tokens_details"], Sse.Keys(chunks[^1].GetProperty("usage")));
    }

    [Fact]
    public async Task Complete_Echo_PrependsPrompt()
    {
        await using var server = await EngineSimServer.StartAsync(CommandLine, scripted: true);
        var (_, body) = await Sse.PostJsonAsync(server.Http, "v1/completions", """{"prompt":"Echo me:","max_tokens":2,"echo":true}""");

        Assert.StartsWith("Echo me:", body.GetProperty("choices")[0].GetProperty("text").GetString(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Complete_TokenIdPromptAndPromptList_AreAccepted()
    {
        await using var server = await EngineSimServer.StartAsync(CommandLine, scripted: true);
        var (status, ids) = await Sse.PostJsonAsync(server.Http, "v1/completions", """{"prompt":[9906, 1917],"max_tokens":2}""");
        var (_, list) = await Sse.PostJsonAsync(server.Http, "v1/completions", """{"prompt":["one","two words"],"max_tokens":2}""");

        Assert.Equal(200, status);
        Assert.Equal(2, ids.GetProperty("usage").GetProperty("prompt_tokens").GetInt32());
        Assert.Equal([0, 1], list.GetProperty("choices").EnumerateArray().Select(c => c.GetProperty("index").GetInt32()));
        Assert.Equal(3, list.GetProperty("usage").GetProperty("prompt_tokens").GetInt32());
        Assert.Equal(4, list.GetProperty("usage").GetProperty("completion_tokens").GetInt32());
    }

    [Fact]
    public async Task Complete_Logprobs_ParallelArrays()
    {
        await using var server = await EngineSimServer.StartAsync(CommandLine, scripted: true);
        var (_, body) = await Sse.PostJsonAsync(server.Http, "v1/completions", """{"prompt":"Hi","max_tokens":3,"logprobs":1}""");

        var logprobs = body.GetProperty("choices")[0].GetProperty("logprobs");
        Assert.Equal(["text_offset", "token_logprobs", "tokens", "top_logprobs"], Sse.Keys(logprobs));
        Assert.All(Sse.Keys(logprobs), k => Assert.Equal(3, logprobs.GetProperty(k).GetArrayLength()));
        Assert.Equal(0, logprobs.GetProperty("text_offset")[0].GetInt32());
    }
}
