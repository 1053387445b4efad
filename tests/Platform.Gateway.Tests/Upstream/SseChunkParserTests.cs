using System.Text;
using Platform.Gateway.Upstream;

namespace Platform.Gateway.Tests.Upstream;

public sealed class SseChunkParserTests
{
    private static (SseChunkKind Kind, List<UpstreamEvent> Events) Parse(string payload)
    {
        var events = new List<UpstreamEvent>();
        return (SseChunkParser.Parse(Encoding.UTF8.GetBytes(payload), events), events);
    }

    [Fact]
    public void Parse_ChatDelta_YieldsTextAndIgnoresRoleOnlyChunk()
    {
        var (_, role) = Parse("""{"id":"c","object":"chat.completion.chunk","choices":[{"index":0,"delta":{"role":"assistant","content":""},"logprobs":null,"finish_reason":null}]}""");
        var (kind, events) = Parse("""{"id":"c","choices":[{"index":1,"delta":{"content":"Hel\"lo"},"logprobs":{"content":[{"token":"Hel","logprob":-0.5}]},"finish_reason":null}]}""");

        Assert.Empty(role);
        Assert.Equal(SseChunkKind.Chunk, kind);
        var delta = Assert.IsType<UpstreamDelta>(Assert.Single(events));
        Assert.Equal(1, delta.ChoiceIndex);
        Assert.Equal("Hel\"lo", delta.Text);
        Assert.Equal("""{"content":[{"token":"Hel","logprob":-0.5}]}""", delta.LogprobsJson);
    }

    [Fact]
    public void Parse_CompletionFinishWithStopReasonAndUsage_YieldsBoth()
    {
        var (_, events) = Parse("""{"id":"cmpl","object":"text_completion","choices":[{"index":0,"text":" end","logprobs":null,"finish_reason":"stop","stop_reason":128009}],"usage":{"prompt_tokens":12,"completion_tokens":5,"total_tokens":17,"prompt_tokens_details":{"cached_tokens":8}}}""");

        var delta = Assert.IsType<UpstreamDelta>(events[0]);
        Assert.Equal(" end", delta.Text);
        Assert.Equal("stop", delta.FinishReason);
        Assert.Equal("128009", delta.StopReasonJson);
        Assert.Null(delta.LogprobsJson);
        Assert.Equal(new UpstreamUsage(12, 5, 8), events[1]);
    }

    [Fact]
    public void Parse_StringStopReason_KeepsRawJson()
    {
        var (_, events) = Parse("""{"choices":[{"index":0,"text":"","finish_reason":"stop","stop_reason":"###"}],"usage":null}""");

        Assert.Equal("\"###\"", Assert.IsType<UpstreamDelta>(Assert.Single(events)).StopReasonJson);
    }

    [Theory]
    [InlineData("[DONE]", "Done")]
    [InlineData(" [DONE]", "Done")]
    [InlineData("""{"error":{"message":"boom","type":"InternalServerError","code":500}}""", "Error")]
    [InlineData("not json", "Invalid")]
    [InlineData("""{"choices":[{"index":"zero"}]}""", "Invalid")]
    [InlineData("[1,2]", "Invalid")]
    public void Parse_SpecialPayloads_AreClassified(string payload, string expected) =>
        Assert.Equal(Enum.Parse<SseChunkKind>(expected), Parse(payload).Kind);
}
