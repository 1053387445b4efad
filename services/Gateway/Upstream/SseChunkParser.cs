using System.Text;
using System.Text.Json;

namespace Platform.Gateway.Upstream;

/// <summary>What one SSE <c>data:</c> payload was.</summary>
internal enum SseChunkKind
{
    /// <summary>A chunk: its deltas and usage were appended.</summary>
    Chunk,

    /// <summary><c>[DONE]</c>.</summary>
    Done,

    /// <summary>An <c>{"error": ...}</c> event: the engine failed after the stream started.</summary>
    Error,

    /// <summary>Not JSON, or not an object.</summary>
    Invalid,
}

/// <summary>
/// Reads one OpenAI streaming chunk (chat or completions, as vLLM writes them) with a <see cref="Utf8JsonReader"/>:
/// only the delta text and the raw logprobs/stop_reason JSON become strings; everything else is skipped.
/// </summary>
internal static class SseChunkParser
{
    public static SseChunkKind Parse(ReadOnlySpan<byte> payload, List<UpstreamEvent> output)
    {
        payload = payload.Trim((byte)' ');
        if (payload.SequenceEqual("[DONE]"u8))
        {
            return SseChunkKind.Done;
        }

        try
        {
            var reader = new Utf8JsonReader(payload);
            if (!reader.Read() || reader.TokenType != JsonTokenType.StartObject)
            {
                return SseChunkKind.Invalid;
            }

            var kind = SseChunkKind.Chunk;
            while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
            {
                if (reader.ValueTextEquals("choices"u8))
                {
                    reader.Read();
                    if (reader.TokenType == JsonTokenType.StartArray)
                    {
                        while (reader.Read() && reader.TokenType == JsonTokenType.StartObject)
                        {
                            ReadChoice(ref reader, payload, output);
                        }
                    }
                    else
                    {
                        reader.Skip();
                    }
                }
                else if (reader.ValueTextEquals("usage"u8))
                {
                    reader.Read();
                    if (reader.TokenType == JsonTokenType.StartObject)
                    {
                        output.Add(ReadUsage(ref reader));
                    }
                    else
                    {
                        reader.Skip();
                    }
                }
                else if (reader.ValueTextEquals("error"u8))
                {
                    kind = SseChunkKind.Error;
                    reader.Read();
                    reader.Skip();
                }
                else
                {
                    reader.Read();
                    reader.Skip();
                }
            }

            return kind;
        }
        catch (JsonException)
        {
            return SseChunkKind.Invalid;
        }
        catch (InvalidOperationException)
        {
            // A value of an unexpected type (e.g. a string index).
            return SseChunkKind.Invalid;
        }
    }

    private static void ReadChoice(ref Utf8JsonReader reader, ReadOnlySpan<byte> payload, List<UpstreamEvent> output)
    {
        var index = 0;
        string? text = null;
        string? logprobs = null;
        string? finish = null;
        string? stop = null;
        while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
        {
            if (reader.ValueTextEquals("index"u8))
            {
                reader.Read();
                index = reader.GetInt32();
            }
            else if (reader.ValueTextEquals("text"u8))
            {
                reader.Read();
                text = reader.TokenType == JsonTokenType.String ? reader.GetString() : null;
            }
            else if (reader.ValueTextEquals("delta"u8))
            {
                reader.Read();
                if (reader.TokenType != JsonTokenType.StartObject)
                {
                    reader.Skip();
                    continue;
                }

                while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
                {
                    if (reader.ValueTextEquals("content"u8))
                    {
                        reader.Read();
                        text = reader.TokenType == JsonTokenType.String ? reader.GetString() : null;
                    }
                    else
                    {
                        reader.Read();
                        reader.Skip();
                    }
                }
            }
            else if (reader.ValueTextEquals("logprobs"u8))
            {
                logprobs = ReadRaw(ref reader, payload);
            }
            else if (reader.ValueTextEquals("finish_reason"u8))
            {
                reader.Read();
                finish = reader.TokenType == JsonTokenType.String ? reader.GetString() : null;
            }
            else if (reader.ValueTextEquals("stop_reason"u8))
            {
                stop = ReadRaw(ref reader, payload);
            }
            else
            {
                reader.Read();
                reader.Skip();
            }
        }

        if (!string.IsNullOrEmpty(text) || finish is not null || logprobs is not null)
        {
            output.Add(new UpstreamDelta(index, text ?? string.Empty, logprobs, finish, stop));
        }
    }

    /// <summary>The next value as raw JSON text; null for a JSON null.</summary>
    private static string? ReadRaw(ref Utf8JsonReader reader, ReadOnlySpan<byte> payload)
    {
        reader.Read();
        if (reader.TokenType == JsonTokenType.Null)
        {
            return null;
        }

        var start = (int)reader.TokenStartIndex;
        reader.Skip();
        return Encoding.UTF8.GetString(payload[start..(int)reader.BytesConsumed]);
    }

    private static UpstreamUsage ReadUsage(ref Utf8JsonReader reader)
    {
        int prompt = 0, completion = 0, cached = 0;
        while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
        {
            if (reader.ValueTextEquals("prompt_tokens"u8))
            {
                reader.Read();
                prompt = reader.TokenType == JsonTokenType.Number ? reader.GetInt32() : 0;
            }
            else if (reader.ValueTextEquals("completion_tokens"u8))
            {
                reader.Read();
                completion = reader.TokenType == JsonTokenType.Number ? reader.GetInt32() : 0;
            }
            else if (reader.ValueTextEquals("prompt_tokens_details"u8))
            {
                reader.Read();
                if (reader.TokenType != JsonTokenType.StartObject)
                {
                    reader.Skip();
                    continue;
                }

                while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
                {
                    var isCached = reader.ValueTextEquals("cached_tokens"u8);
                    reader.Read();
                    if (isCached && reader.TokenType == JsonTokenType.Number)
                    {
                        cached = reader.GetInt32();
                    }
                    else
                    {
                        reader.Skip();
                    }
                }
            }
            else
            {
                reader.Read();
                reader.Skip();
            }
        }

        return new UpstreamUsage(prompt, completion, cached);
    }
}
