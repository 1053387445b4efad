using System.Text.Json;
using System.Text.Json.Nodes;
using Platform.Gateway.Pipeline;

namespace Platform.Gateway.Api;

/// <summary>OpenAI/vLLM response shapes, written with <see cref="Utf8JsonWriter"/> (no intermediate objects per token).</summary>
internal static class OpenAiJson
{
    public static void WriteError(Utf8JsonWriter json, GatewayError error)
    {
        json.WriteStartObject();
        json.WriteStartObject("error");
        json.WriteString("message", error.Message);
        json.WriteString("type", error.Type);
        WriteNullableString(json, "param", error.Param);
        WriteNullableString(json, "code", error.Code);
        json.WriteEndObject();
        json.WriteEndObject();
    }

    /// <summary>The role chunk that starts every choice of a chat stream.</summary>
    public static void WriteChatRoleChunk(Utf8JsonWriter json, string id, long created, string model, int index)
    {
        WriteChunkStart(json, id, "chat.completion.chunk", created, model);
        json.WriteStartObject();
        json.WriteNumber("index", index);
        json.WriteStartObject("delta");
        json.WriteString("role", "assistant");
        json.WriteString("content", string.Empty);
        json.WriteEndObject();
        json.WriteNull("logprobs");
        json.WriteNull("finish_reason");
        json.WriteEndObject();
        json.WriteEndArray();
        json.WriteEndObject();
    }

    public static void WriteContentChunk(Utf8JsonWriter json, GenerationApi api, string id, long created, string model, ContentEvent content)
    {
        var chat = api == GenerationApi.ChatCompletions;
        WriteChunkStart(json, id, chat ? "chat.completion.chunk" : "text_completion", created, model);
        json.WriteStartObject();
        json.WriteNumber("index", content.ChoiceIndex);
        if (chat)
        {
            json.WriteStartObject("delta");
            json.WriteString("content", content.Text);
            json.WriteEndObject();
        }
        else
        {
            json.WriteString("text", content.Text);
        }

        WriteRawOrNull(json, "logprobs", content.LogprobsJson);
        WriteNullableString(json, "finish_reason", content.FinishReason);
        if (content.FinishReason is not null || !chat)
        {
            WriteRawOrNull(json, "stop_reason", content.StopReasonJson);
        }

        json.WriteEndObject();
        json.WriteEndArray();
        json.WriteEndObject();
    }

    public static void WriteUsageChunk(Utf8JsonWriter json, GenerationApi api, string id, long created, string model, GenerationUsage usage)
    {
        WriteChunkStart(json, id, api == GenerationApi.ChatCompletions ? "chat.completion.chunk" : "text_completion", created, model);
        json.WriteEndArray();
        WriteUsage(json, usage);
        json.WriteEndObject();
    }

    public static void WriteUsage(Utf8JsonWriter json, GenerationUsage usage)
    {
        json.WriteStartObject("usage");
        json.WriteNumber("prompt_tokens", usage.PromptTokens);
        json.WriteNumber("total_tokens", usage.TotalTokens);
        json.WriteNumber("completion_tokens", usage.CompletionTokens);
        if (usage.CachedPromptTokens > 0)
        {
            json.WriteStartObject("prompt_tokens_details");
            json.WriteNumber("cached_tokens", usage.CachedPromptTokens);
            json.WriteEndObject();
        }
        else
        {
            json.WriteNull("prompt_tokens_details");
        }

        json.WriteEndObject();
    }

    /// <summary>A whole (non-streaming) response from the aggregated choices.</summary>
    public static void WriteResponse(Utf8JsonWriter json, GenerationApi api, string id, long created, string model, IReadOnlyList<ChoiceAggregate> choices, GenerationUsage usage)
    {
        var chat = api == GenerationApi.ChatCompletions;
        json.WriteStartObject();
        json.WriteString("id", id);
        json.WriteString("object", chat ? "chat.completion" : "text_completion");
        json.WriteNumber("created", created);
        json.WriteString("model", model);
        json.WriteStartArray("choices");
        for (var i = 0; i < choices.Count; i++)
        {
            var choice = choices[i];
            json.WriteStartObject();
            json.WriteNumber("index", i);
            if (chat)
            {
                json.WriteStartObject("message");
                json.WriteString("role", "assistant");
                json.WriteString("content", choice.Text.ToString());
                json.WriteStartArray("tool_calls");
                json.WriteEndArray();
                json.WriteEndObject();
            }
            else
            {
                json.WriteString("text", choice.Text.ToString());
            }

            if (choice.Logprobs is null)
            {
                json.WriteNull("logprobs");
            }
            else
            {
                json.WritePropertyName("logprobs");
                choice.Logprobs.WriteTo(json);
            }

            WriteNullableString(json, "finish_reason", choice.FinishReason);
            WriteRawOrNull(json, "stop_reason", choice.StopReasonJson);
            json.WriteEndObject();
        }

        json.WriteEndArray();
        WriteUsage(json, usage);
        json.WriteEndObject();
    }

    private static void WriteChunkStart(Utf8JsonWriter json, string id, string type, long created, string model)
    {
        json.WriteStartObject();
        json.WriteString("id", id);
        json.WriteString("object", type);
        json.WriteNumber("created", created);
        json.WriteString("model", model);
        json.WriteStartArray("choices");
    }

    private static void WriteNullableString(Utf8JsonWriter json, string name, string? value)
    {
        if (value is null)
        {
            json.WriteNull(name);
        }
        else
        {
            json.WriteString(name, value);
        }
    }

    private static void WriteRawOrNull(Utf8JsonWriter json, string name, string? raw)
    {
        json.WritePropertyName(name);
        if (string.IsNullOrEmpty(raw))
        {
            json.WriteNullValue();
        }
        else
        {
            json.WriteRawValue(raw, skipInputValidation: false);
        }
    }
}

/// <summary>One choice of a non-streaming response, built from its content events.</summary>
internal sealed class ChoiceAggregate
{
    public System.Text.StringBuilder Text { get; } = new();

    public string? FinishReason { get; set; }

    public string? StopReasonJson { get; set; }

    /// <summary>Logprobs pieces merged: every array-valued property is concatenated.</summary>
    public JsonObject? Logprobs { get; private set; }

    public void Add(ContentEvent content)
    {
        Text.Append(content.Text);
        if (content.FinishReason is not null)
        {
            FinishReason = content.FinishReason;
            StopReasonJson = content.StopReasonJson;
        }

        if (string.IsNullOrEmpty(content.LogprobsJson) || JsonNode.Parse(content.LogprobsJson) is not JsonObject piece)
        {
            return;
        }

        if (Logprobs is null)
        {
            Logprobs = piece;
            return;
        }

        foreach (var (name, value) in piece.ToList())
        {
            if (value is JsonArray items && Logprobs[name] is JsonArray target)
            {
                foreach (var item in items.ToList())
                {
                    items.Remove(item);
                    target.Add(item);
                }
            }
            else if (!Logprobs.ContainsKey(name))
            {
                piece.Remove(name);
                Logprobs[name] = value;
            }
        }
    }
}
