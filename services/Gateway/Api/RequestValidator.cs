using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using Platform.Classifier.V1;
using Platform.Fleet.Catalog;
using Platform.Gateway.Auth;
using Platform.Gateway.Pipeline;

namespace Platform.Gateway.Api;

/// <summary>
/// Turns an OpenAI request body into a <see cref="GenerationRequest"/> or a client error, before anything reaches an
/// engine: JSON shape and types, roles, parameter ranges (vLLM's and OpenAI's), the model and the key's rights, and
/// the parameters a speculative pool cannot honour. max_tokens above the model's window is a 400; above the key's
/// ceiling it is clamped to the ceiling (a missing max_tokens gets the ceiling).
/// </summary>
internal static class RequestValidator
{
    public const int MaxChoices = 16;
    public const int MaxStopSequences = 4;
    public const int MaxLogprobs = 20;

    /// <summary>JSON nesting deeper than this is rejected while parsing.</summary>
    public const int MaxDepth = 32;

    private static readonly JsonDocumentOptions DocumentOptions = new()
    {
        MaxDepth = MaxDepth,
        AllowDuplicateProperties = false,
        CommentHandling = JsonCommentHandling.Disallow,
        AllowTrailingCommas = false,
    };

    /// <summary>Parses a body; the root must be an object.</summary>
    public static JsonObject? Parse(ReadOnlySpan<byte> body, out GatewayError? error)
    {
        error = null;
        try
        {
            var node = JsonNode.Parse(body, documentOptions: DocumentOptions);
            if (node is JsonObject obj)
            {
                return obj;
            }

            error = GatewayErrors.Invalid("The request body must be a JSON object.", null, "invalid_type");
            return null;
        }
        catch (JsonException e)
        {
            error = GatewayErrors.NotJson(Describe(e));
            return null;
        }
    }

    public static GenerationRequest? Validate(
        GenerationApi api, JsonObject body, ApiKey key, IFleetCatalog catalog, string frontend, out GatewayError? error)
    {
        error = null;

        // The model first: unknown (404) and forbidden (403) outrank the rest, as OpenAI answers.
        if (!TryGetString(body, "model", required: true, out var model, ref error))
        {
            return null;
        }

        var info = catalog.FindModel(model!);
        if (info is null)
        {
            error = GatewayErrors.ModelNotFound(model!);
            return null;
        }

        if (!key.MayUse(info.Name))
        {
            error = GatewayErrors.ModelNotAllowed(info.Name);
            return null;
        }

        IReadOnlyList<ChatTurn> messages = [];
        string? prompt = null;
        if (api == GenerationApi.ChatCompletions)
        {
            messages = ReadMessages(body, ref error)!;
            if (error is not null)
            {
                return null;
            }
        }
        else
        {
            prompt = ReadPrompt(body, ref error);
            if (error is not null)
            {
                return null;
            }
        }

        if (!TryGetBool(body, "stream", out var stream, ref error)
            || !TryGetNumber(body, "temperature", 0, 2, out _, ref error)
            || !TryGetNumber(body, "presence_penalty", -2, 2, out _, ref error)
            || !TryGetNumber(body, "frequency_penalty", -2, 2, out _, ref error)
            || !TryGetNumber(body, "repetition_penalty", double.Epsilon, 2, out _, ref error)
            || !TryGetInteger(body, "n", 1, MaxChoices, out var n, ref error)
            || !TryGetInteger(body, "seed", long.MinValue, long.MaxValue, out _, ref error)
            || !TryGetInteger(body, "top_k", -1, int.MaxValue, out _, ref error)
            || !TryGetBool(body, "use_beam_search", out var beam, ref error)
            || !TryGetString(body, "user", required: false, out _, ref error)
            || !ValidateTopP(body, ref error)
            || !ValidateStop(body, ref error)
            || !ValidateLogprobs(api, body, ref error)
            || !ValidateStreamOptions(body, stream ?? false, out var includeUsage, ref error))
        {
            return null;
        }

        long? bestOf = null;
        if (api == GenerationApi.Completions)
        {
            if (!TryGetInteger(body, "best_of", 1, MaxChoices, out bestOf, ref error)
                || !TryGetBool(body, "echo", out _, ref error))
            {
                return null;
            }

            if (bestOf < (n ?? 1))
            {
                error = GatewayErrors.Invalid("best_of must be greater than or equal to n.", "best_of");
                return null;
            }
        }

        var maxTokens = ReadMaxTokens(api, body, info, key, ref error);
        if (error is not null)
        {
            return null;
        }

        var requiresNoSpeculation = n > 1 || bestOf > 1 || beam == true;
        if (requiresNoSpeculation && !info.Pools.Any(p => p.Speculative is null))
        {
            var param = n > 1 ? "n" : bestOf > 1 ? "best_of" : "use_beam_search";
            error = GatewayErrors.Invalid(
                $"'{param}' cannot be honoured for model '{info.Name}': every pool serving it uses speculative decoding, which supports only n = 1, best_of = 1 and no beam search.",
                param,
                "unsupported_parameter");
            return null;
        }

        return new GenerationRequest
        {
            Id = NewId(api),
            Api = api,
            Model = info.Name,
            Messages = messages,
            Prompt = prompt,
            Body = body,
            Choices = (int)(n ?? 1),
            MaxTokens = maxTokens,
            ClientWantsUsage = includeUsage,
            RequiresNoSpeculation = requiresNoSpeculation,
            KindHint = TaskKind.Unspecified,
            Tenant = key.Tenant,
            Frontend = frontend,
        };
    }

    public static string NewId(GenerationApi api) =>
        (api == GenerationApi.ChatCompletions ? "chatcmpl-" : "cmpl-") + Guid.NewGuid().ToString("N");

    private static int? ReadMaxTokens(GenerationApi api, JsonObject body, ModelInfo model, ApiKey key, ref GatewayError? error)
    {
        var name = "max_tokens";
        if (!TryGetInteger(body, "max_tokens", 1, long.MaxValue, out var requested, ref error))
        {
            return null;
        }

        if (api == GenerationApi.ChatCompletions)
        {
            if (!TryGetInteger(body, "max_completion_tokens", 1, long.MaxValue, out var completion, ref error))
            {
                return null;
            }

            if (completion is not null)
            {
                // The newer name wins, as OpenAI's API says; the engine is sent max_tokens only.
                requested = completion;
                name = "max_completion_tokens";
                body.Remove("max_completion_tokens");
            }
        }

        if (requested > model.MaxModelLen)
        {
            error = GatewayErrors.Invalid(
                $"'{name}' is {requested}, more than the model's context window of {model.MaxModelLen} tokens.", name, "context_length_exceeded");
            return null;
        }

        int? result = requested is null ? null : (int)requested.Value;
        if (key.MaxTokens > 0 && (result is null || result > key.MaxTokens))
        {
            result = Math.Min(key.MaxTokens, model.MaxModelLen);
        }

        if (result is not null)
        {
            body["max_tokens"] = result.Value;
        }

        return result;
    }

    private static List<ChatTurn>? ReadMessages(JsonObject body, ref GatewayError? error)
    {
        if (!body.TryGetPropertyValue("messages", out var node) || node is null)
        {
            error = GatewayErrors.Missing("messages");
            return null;
        }

        if (node is not JsonArray array)
        {
            error = GatewayErrors.WrongType("messages", "an array of messages");
            return null;
        }

        if (array.Count == 0)
        {
            error = GatewayErrors.Invalid("'messages' must contain at least one message.", "messages", "empty_array");
            return null;
        }

        var turns = new List<ChatTurn>(array.Count);
        for (var i = 0; i < array.Count; i++)
        {
            var param = $"messages.[{i}]";
            if (array[i] is not JsonObject message)
            {
                error = GatewayErrors.WrongType(param, "an object with 'role' and 'content'");
                return null;
            }

            if (!TryGetString(message, "role", required: true, out var role, ref error, param + ".role"))
            {
                return null;
            }

            if (role is not ("system" or "developer" or "user" or "assistant" or "tool"))
            {
                error = GatewayErrors.Invalid(
                    $"'{Truncate(role!)}' is not a valid role; expected 'system', 'developer', 'user', 'assistant' or 'tool'.", param + ".role");
                return null;
            }

            var content = ReadContent(message, role, param + ".content", ref error);
            if (error is not null)
            {
                return null;
            }

            turns.Add(new ChatTurn(role, content!));
        }

        return turns;
    }

    private static string? ReadContent(JsonObject message, string role, string param, ref GatewayError? error)
    {
        if (!message.TryGetPropertyValue("content", out var content) || content is null)
        {
            // An assistant turn that only called tools has no content.
            if (role == "assistant" && message.ContainsKey("tool_calls"))
            {
                return string.Empty;
            }

            error = GatewayErrors.Missing(param);
            return null;
        }

        if (content.GetValueKind() == JsonValueKind.String)
        {
            return content.GetValue<string>();
        }

        if (content is not JsonArray parts)
        {
            error = GatewayErrors.WrongType(param, "a string or an array of text parts");
            return null;
        }

        var text = new StringBuilder();
        for (var j = 0; j < parts.Count; j++)
        {
            var partParam = $"{param}.[{j}]";
            if (parts[j] is not JsonObject part
                || part["type"] is not JsonValue type
                || type.GetValueKind() != JsonValueKind.String)
            {
                error = GatewayErrors.WrongType(partParam, "an object with 'type'");
                return null;
            }

            if (type.GetValue<string>() != "text")
            {
                error = GatewayErrors.Invalid("Only text content parts are supported.", partParam + ".type", "unsupported_content");
                return null;
            }

            if (!TryGetString(part, "text", required: true, out var piece, ref error, partParam + ".text"))
            {
                return null;
            }

            text.Append(piece);
        }

        return text.ToString();
    }

    private static string? ReadPrompt(JsonObject body, ref GatewayError? error)
    {
        if (!body.TryGetPropertyValue("prompt", out var node) || node is null)
        {
            error = GatewayErrors.Missing("prompt");
            return null;
        }

        if (node.GetValueKind() == JsonValueKind.String)
        {
            return node.GetValue<string>();
        }

        if (node is JsonArray { Count: 1 } one && one[0] is JsonValue v && v.GetValueKind() == JsonValueKind.String)
        {
            var prompt = v.GetValue<string>();
            body["prompt"] = prompt;
            return prompt;
        }

        error = GatewayErrors.WrongType("prompt", "a string (or an array of exactly one string)");
        return null;
    }

    private static bool ValidateTopP(JsonObject body, ref GatewayError? error)
    {
        if (!TryGetNumber(body, "top_p", 0, 1, out var topP, ref error))
        {
            return false;
        }

        if (topP is <= 0)
        {
            error = GatewayErrors.Invalid("'top_p' must be in (0, 1].", "top_p");
            return false;
        }

        return true;
    }

    private static bool ValidateStop(JsonObject body, ref GatewayError? error)
    {
        if (!body.TryGetPropertyValue("stop", out var stop) || stop is null)
        {
            return true;
        }

        if (stop.GetValueKind() == JsonValueKind.String)
        {
            return true;
        }

        if (stop is not JsonArray array)
        {
            error = GatewayErrors.WrongType("stop", "a string or an array of strings");
            return false;
        }

        if (array.Count > MaxStopSequences)
        {
            error = GatewayErrors.Invalid($"'stop' may hold at most {MaxStopSequences} sequences, got {array.Count}.", "stop");
            return false;
        }

        foreach (var item in array)
        {
            if (item is null || item.GetValueKind() != JsonValueKind.String)
            {
                error = GatewayErrors.WrongType("stop", "a string or an array of strings");
                return false;
            }
        }

        return true;
    }

    private static bool ValidateLogprobs(GenerationApi api, JsonObject body, ref GatewayError? error)
    {
        if (api == GenerationApi.Completions)
        {
            return TryGetInteger(body, "logprobs", 0, MaxLogprobs, out _, ref error);
        }

        if (!TryGetBool(body, "logprobs", out var logprobs, ref error)
            || !TryGetInteger(body, "top_logprobs", 0, MaxLogprobs, out var top, ref error))
        {
            return false;
        }

        if (top is not null && logprobs != true)
        {
            error = GatewayErrors.Invalid("'top_logprobs' requires 'logprobs' to be true.", "top_logprobs");
            return false;
        }

        return true;
    }

    private static bool ValidateStreamOptions(JsonObject body, bool stream, out bool includeUsage, ref GatewayError? error)
    {
        includeUsage = false;
        if (!body.TryGetPropertyValue("stream_options", out var node) || node is null)
        {
            return true;
        }

        if (!stream)
        {
            error = GatewayErrors.Invalid("'stream_options' is only allowed when 'stream' is true.", "stream_options");
            return false;
        }

        if (node is not JsonObject options)
        {
            error = GatewayErrors.WrongType("stream_options", "an object");
            return false;
        }

        if (!TryGetBool(options, "include_usage", out var usage, ref error, "stream_options.include_usage")
            || !TryGetBool(options, "continuous_usage_stats", out _, ref error, "stream_options.continuous_usage_stats"))
        {
            return false;
        }

        includeUsage = usage ?? false;
        return true;
    }

    private static bool TryGetString(JsonObject obj, string name, bool required, out string? value, ref GatewayError? error, string? param = null)
    {
        value = null;
        param ??= name;
        if (!obj.TryGetPropertyValue(name, out var node) || node is null)
        {
            if (required)
            {
                error = GatewayErrors.Missing(param);
                return false;
            }

            return true;
        }

        if (node.GetValueKind() != JsonValueKind.String)
        {
            error = GatewayErrors.WrongType(param, "a string");
            return false;
        }

        value = node.GetValue<string>();
        if (required && value.Length == 0 && name == "model")
        {
            error = GatewayErrors.Missing(param);
            return false;
        }

        return true;
    }

    private static bool TryGetBool(JsonObject obj, string name, out bool? value, ref GatewayError? error, string? param = null)
    {
        value = null;
        if (!obj.TryGetPropertyValue(name, out var node) || node is null)
        {
            return true;
        }

        switch (node.GetValueKind())
        {
            case JsonValueKind.True:
                value = true;
                return true;
            case JsonValueKind.False:
                value = false;
                return true;
            default:
                error = GatewayErrors.WrongType(param ?? name, "a boolean");
                return false;
        }
    }

    private static bool TryGetNumber(JsonObject obj, string name, double min, double max, out double? value, ref GatewayError? error)
    {
        value = null;
        if (!obj.TryGetPropertyValue(name, out var node) || node is null)
        {
            return true;
        }

        if (node.GetValueKind() != JsonValueKind.Number || !node.AsValue().TryGetValue<double>(out var number) || !double.IsFinite(number))
        {
            error = GatewayErrors.WrongType(name, "a number");
            return false;
        }

        if (number < min || number > max)
        {
            error = GatewayErrors.Invalid($"'{name}' must be between {min} and {max}, got {number}.", name);
            return false;
        }

        value = number;
        return true;
    }

    private static bool TryGetInteger(JsonObject obj, string name, long min, long max, out long? value, ref GatewayError? error)
    {
        value = null;
        if (!obj.TryGetPropertyValue(name, out var node) || node is null)
        {
            return true;
        }

        if (node.GetValueKind() != JsonValueKind.Number)
        {
            error = GatewayErrors.WrongType(name, "an integer");
            return false;
        }

        if (!node.AsValue().TryGetValue<long>(out var number))
        {
            var outOfRange = node.AsValue().TryGetValue<double>(out var d) && double.IsFinite(d) && Math.Floor(d) == d;
            error = outOfRange
                ? GatewayErrors.Invalid($"'{name}' is out of range.", name)
                : GatewayErrors.WrongType(name, "an integer");
            return false;
        }

        if (number < min || number > max)
        {
            error = max == long.MaxValue
                ? GatewayErrors.Invalid($"'{name}' must be at least {min}, got {number}.", name)
                : GatewayErrors.Invalid($"'{name}' must be between {min} and {max}, got {number}.", name);
            return false;
        }

        value = number;
        return true;
    }

    private static string Describe(JsonException e) =>
        e.LineNumber is { } line ? $"error at line {line + 1}, position {e.BytePositionInLine + 1}." : "malformed JSON.";

    private static string Truncate(string value) => value.Length <= 40 ? value : value[..40] + "...";
}
