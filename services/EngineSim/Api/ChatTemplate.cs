using System.Text;
using System.Text.Json;

namespace Platform.EngineSim.Api;

/// <summary>One chat message with its text content (text parts joined by newlines, as vLLM's "string" format).</summary>
internal readonly record struct ChatMessage(string Role, string Content);

/// <summary>
/// Llama 3's chat template, as vLLM applies it for Llama-3.x-Instruct: <c>&lt;|begin_of_text|&gt;</c>, then per
/// message a header, the trimmed content and <c>&lt;|eot_id|&gt;</c>, then the assistant header when a
/// generation prompt is asked for. With continue_final_message the last (assistant) message is left open.
/// </summary>
internal static class ChatTemplate
{
    public const string BeginOfText = "<|begin_of_text|>";
    private const string StartHeader = "<|start_header_id|>";
    private const string EndHeader = "<|end_header_id|>\n\n";
    private const string EndOfTurn = "<|eot_id|>";

    public static string Render(IReadOnlyList<ChatMessage> messages, bool addGenerationPrompt, bool continueFinalMessage)
    {
        var text = new StringBuilder(BeginOfText, 64 + messages.Sum(m => m.Content.Length + m.Role.Length + 32));
        for (var i = 0; i < messages.Count; i++)
        {
            var message = messages[i];
            text.Append(StartHeader).Append(message.Role).Append(EndHeader).Append(message.Content.Trim());
            if (!(continueFinalMessage && i == messages.Count - 1))
            {
                text.Append(EndOfTurn);
            }
        }

        if (addGenerationPrompt && !continueFinalMessage)
        {
            text.Append(StartHeader).Append("assistant").Append(EndHeader);
        }

        return text.ToString();
    }

    /// <summary>Reads OpenAI's "messages" array; content may be a string, an array of text parts, or null.</summary>
    public static List<ChatMessage> ReadMessages(RequestFields fields)
    {
        if (!fields.Root.TryGetProperty("messages", out var array) || array.ValueKind == JsonValueKind.Null)
        {
            throw OpenAiException.Validation("[{'type': 'missing', 'loc': ('body', 'messages'), 'msg': 'Field required'}]", "messages");
        }

        if (array.ValueKind != JsonValueKind.Array)
        {
            throw OpenAiException.Field("messages", "list_type", "Input should be a valid list", RequestFields.Repr(array));
        }

        var messages = new List<ChatMessage>(array.GetArrayLength());
        var index = 0;
        foreach (var item in array.EnumerateArray())
        {
            if (item.ValueKind != JsonValueKind.Object)
            {
                throw OpenAiException.Field($"messages.{index}", "model_type", "Input should be a valid dictionary", RequestFields.Repr(item));
            }

            if (!item.TryGetProperty("role", out var role) || role.ValueKind != JsonValueKind.String)
            {
                throw OpenAiException.Field($"messages.{index}.role", "missing", "Field required: role must be a string", "{...}");
            }

            messages.Add(new ChatMessage(role.GetString()!, ReadContent(item, index)));
            index++;
        }

        return messages;
    }

    private static string ReadContent(JsonElement message, int index)
    {
        if (!message.TryGetProperty("content", out var content) || content.ValueKind == JsonValueKind.Null)
        {
            return "";
        }

        if (content.ValueKind == JsonValueKind.String)
        {
            return content.GetString()!;
        }

        if (content.ValueKind != JsonValueKind.Array)
        {
            throw OpenAiException.Field($"messages.{index}.content", "string_type", "Input should be a valid string or a list of content parts", RequestFields.Repr(content));
        }

        var text = new StringBuilder();
        foreach (var part in content.EnumerateArray())
        {
            var type = part.ValueKind == JsonValueKind.Object && part.TryGetProperty("type", out var t) && t.ValueKind == JsonValueKind.String
                ? t.GetString()
                : null;
            if (type is not ("text" or "input_text") || !part.TryGetProperty("text", out var partText) || partText.ValueKind != JsonValueKind.String)
            {
                throw OpenAiException.BadRequest(
                    $"Content part of type '{type ?? "unknown"}' is not supported: this model accepts text only.", $"messages.{index}.content");
            }

            if (text.Length > 0)
            {
                text.Append('\n');
            }

            text.Append(partText.GetString());
        }

        return text.ToString();
    }
}
