using System.Text;
using System.Text.Json;
using Platform.EngineSim.Engine;

namespace Platform.EngineSim.Api;

/// <summary>The JSON pieces of vLLM's response bodies and chunks, written straight into a Utf8JsonWriter.</summary>
internal static class ResponseJson
{
    /// <summary>vLLM clamps -inf logprobs to this.</summary>
    private const float MinLogprob = -9999f;

    public static string FinishReasonText(FinishReason reason) => reason switch
    {
        FinishReason.Stop => "stop",
        FinishReason.Length => "length",
        _ => "abort",
    };

    /// <summary>id, object, created, model: the head every body and chunk starts with.</summary>
    public static void WriteHead(Utf8JsonWriter w, GenerationPlan plan, ReadOnlySpan<byte> objectName)
    {
        w.WriteString("id"u8, plan.Id);
        w.WriteString("object"u8, objectName);
        w.WriteNumber("created"u8, plan.Created);
        w.WriteString("model"u8, plan.Model);
    }

    /// <summary>
    /// UsageInfo in vLLM's field order. <paramref name="cachedTokens"/> null leaves prompt_tokens_details out
    /// (streamed usage is dumped without nulls) or null (non-streaming bodies dump every field).
    /// </summary>
    public static void WriteUsage(Utf8JsonWriter w, int promptTokens, int completionTokens, int? cachedTokens, bool writeNullDetails)
    {
        w.WriteStartObject("usage"u8);
        w.WriteNumber("prompt_tokens"u8, promptTokens);
        w.WriteNumber("total_tokens"u8, promptTokens + completionTokens);
        w.WriteNumber("completion_tokens"u8, completionTokens);
        if (cachedTokens is { } cached)
        {
            w.WriteStartObject("prompt_tokens_details"u8);
            w.WriteNumber("cached_tokens"u8, cached);
            w.WriteEndObject();
        }
        else if (writeNullDetails)
        {
            w.WriteNull("prompt_tokens_details"u8);
        }

        w.WriteEndObject();
    }

    public static void WriteFinish(Utf8JsonWriter w, FinishReason? reason, string? stopReason, bool alwaysWriteStopReason)
    {
        if (reason is { } r)
        {
            w.WriteString("finish_reason"u8, FinishReasonText(r));
            WriteStopReason(w, stopReason);
        }
        else
        {
            w.WriteNull("finish_reason"u8);
            if (alwaysWriteStopReason)
            {
                w.WriteNull("stop_reason"u8);
            }
        }
    }

    private static void WriteStopReason(Utf8JsonWriter w, string? stopReason)
    {
        if (stopReason is null)
        {
            w.WriteNull("stop_reason"u8);
        }
        else
        {
            w.WriteString("stop_reason"u8, stopReason);
        }
    }

    /// <summary>Chat logprobs: {"content": [{"token", "logprob", "bytes", "top_logprobs": [...]}]}.</summary>
    public static void WriteChatLogprobs(Utf8JsonWriter w, IReadOnlyList<GeneratedToken> tokens, int topLogprobs)
    {
        w.WriteStartObject("logprobs"u8);
        w.WriteStartArray("content"u8);
        foreach (var token in tokens)
        {
            w.WriteStartObject();
            WriteChatLogprob(w, token.Text, token.Logprob);
            w.WriteStartArray("top_logprobs"u8);
            if (token.TopLogprobs is { } top)
            {
                for (var i = 0; i < top.Count && i < topLogprobs; i++)
                {
                    w.WriteStartObject();
                    WriteChatLogprob(w, top[i].Text, top[i].Logprob);
                    w.WriteEndObject();
                }
            }

            w.WriteEndArray();
            w.WriteEndObject();
        }

        w.WriteEndArray();
        w.WriteEndObject();
    }

    private static void WriteChatLogprob(Utf8JsonWriter w, string text, float logprob)
    {
        w.WriteString("token"u8, text);
        w.WriteNumber("logprob"u8, Math.Max(logprob, MinLogprob));
        w.WriteStartArray("bytes"u8);
        var byteCount = Encoding.UTF8.GetByteCount(text);
        Span<byte> bytes = byteCount <= 256 ? stackalloc byte[byteCount] : new byte[byteCount];
        Encoding.UTF8.GetBytes(text, bytes);
        foreach (var b in bytes)
        {
            w.WriteNumberValue(b);
        }

        w.WriteEndArray();
    }

    /// <summary>Completions logprobs: parallel arrays, top_logprobs a {token: logprob} map per token.</summary>
    public static void WriteCompletionLogprobs(Utf8JsonWriter w, IReadOnlyList<GeneratedToken> tokens, int topLogprobs, int textOffset)
    {
        w.WriteStartObject("logprobs"u8);
        w.WriteStartArray("text_offset"u8);
        var offset = textOffset;
        foreach (var token in tokens)
        {
            w.WriteNumberValue(offset);
            offset += token.Text.Length;
        }

        w.WriteEndArray();
        w.WriteStartArray("token_logprobs"u8);
        foreach (var token in tokens)
        {
            w.WriteNumberValue(Math.Max(token.Logprob, MinLogprob));
        }

        w.WriteEndArray();
        w.WriteStartArray("tokens"u8);
        foreach (var token in tokens)
        {
            w.WriteStringValue(token.Text);
        }

        w.WriteEndArray();
        w.WriteStartArray("top_logprobs"u8);
        foreach (var token in tokens)
        {
            // The sampled token first, then the alternatives: vLLM's map holds up to k + 1 entries.
            w.WriteStartObject();
            w.WriteNumber(token.Text, Math.Max(token.Logprob, MinLogprob));
            if (token.TopLogprobs is { } top)
            {
                for (var i = 0; i < top.Count && i < topLogprobs; i++)
                {
                    if (top[i].Text != token.Text)
                    {
                        w.WriteNumber(top[i].Text, Math.Max(top[i].Logprob, MinLogprob));
                    }
                }
            }

            w.WriteEndObject();
        }

        w.WriteEndArray();
        w.WriteEndObject();
    }
}
