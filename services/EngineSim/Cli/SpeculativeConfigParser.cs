using System.Text.Json;
using Platform.EngineSim.Engine;

namespace Platform.EngineSim.Cli;

/// <summary>
/// vLLM's <c>--speculative-config</c>: a JSON object such as
/// <c>{"method": "draft_model", "model": "...", "num_speculative_tokens": 5}</c>. Keys the simulator does not
/// model (draft_tensor_parallel_size, prompt_lookup_max, ...) are accepted and have no effect.
/// </summary>
internal static class SpeculativeConfigParser
{
    private const string Flag = "--speculative-config";

    /// <summary>The methods vLLM accepts; the simulator treats them alike (a draft proposes k tokens per step).</summary>
    private static readonly string[] Methods =
    [
        "ngram", "eagle", "eagle3", "medusa", "mlp_speculator", "draft_model", "deepseek_mtp", "mtp",
        "ernie_mtp", "qwen3_next_mtp", "glm4_moe_mtp", "mimo_mtp", "longcat_flash_mtp", "suffix",
    ];

    /// <summary>Methods whose proposer is a separate model that must be named.</summary>
    private static readonly string[] MethodsNeedingModel = ["eagle", "eagle3", "medusa", "mlp_speculator", "draft_model"];

    public static SpeculativeConfig Parse(string json, PromptKind? draftKind, double? acceptanceMatch, double? acceptanceMismatch)
    {
        JsonDocument document;
        try
        {
            document = JsonDocument.Parse(json);
        }
        catch (JsonException e)
        {
            throw new CommandLineException(Flag, $"invalid JSON ({FirstLine(e.Message)}): {json}");
        }

        using (document)
        {
            var root = document.RootElement;
            if (root.ValueKind != JsonValueKind.Object)
            {
                throw new CommandLineException(Flag, $"expected a JSON object, got {root.ValueKind}: {json}");
            }

            var model = OptionalString(root, "model");
            var method = OptionalString(root, "method") ?? InferMethod(model);
            if (model is "ngram" or "[ngram]" || method == "[ngram]")
            {
                method = "ngram";
                model = null;
            }

            if (Array.IndexOf(Methods, method) < 0)
            {
                throw new CommandLineException(Flag, $"unsupported method '{method}' (choose from {string.Join(", ", Methods)})");
            }

            if (model is null && Array.IndexOf(MethodsNeedingModel, method) >= 0)
            {
                throw new CommandLineException(Flag, $"method '{method}' needs a draft \"model\"");
            }

            var tokens = NumSpeculativeTokens(root);
            var defaults = new SpeculativeConfig { Method = method, NumSpeculativeTokens = 1, DraftKind = PromptKind.General };
            return new SpeculativeConfig
            {
                Method = method,
                Model = model,
                NumSpeculativeTokens = tokens,
                DraftKind = draftKind ?? SimCommandLine.InferDraftKind(model),
                AcceptanceMatched = acceptanceMatch ?? defaults.AcceptanceMatched,
                AcceptanceMismatched = acceptanceMismatch ?? defaults.AcceptanceMismatched,
            };
        }
    }

    /// <summary>vLLM infers the method from the draft's architecture; the simulator can only read its name.</summary>
    private static string InferMethod(string? model)
    {
        if (model is null)
        {
            throw new CommandLineException(Flag, "either \"method\" or \"model\" must be given");
        }

        var name = model.ToLowerInvariant();
        return name switch
        {
            "ngram" or "[ngram]" => "ngram",
            _ when name.Contains("eagle3", StringComparison.Ordinal) => "eagle3",
            _ when name.Contains("eagle", StringComparison.Ordinal) => "eagle",
            _ when name.Contains("medusa", StringComparison.Ordinal) => "medusa",
            _ when name.Contains("mlp_speculator", StringComparison.Ordinal) || name.Contains("mlp-speculator", StringComparison.Ordinal) => "mlp_speculator",
            _ => "draft_model",
        };
    }

    private static int NumSpeculativeTokens(JsonElement root)
    {
        if (!root.TryGetProperty("num_speculative_tokens", out var value) || value.ValueKind == JsonValueKind.Null)
        {
            throw new CommandLineException(Flag, "\"num_speculative_tokens\" is required (1 to 16)");
        }

        if (value.ValueKind != JsonValueKind.Number || !value.TryGetInt32(out var tokens))
        {
            throw new CommandLineException(Flag, $"\"num_speculative_tokens\" must be an integer, got {value.GetRawText()}");
        }

        return tokens is >= 1 and <= 16
            ? tokens
            : throw new CommandLineException(Flag, $"\"num_speculative_tokens\" must be in [1, 16], got {tokens}");
    }

    private static string? OptionalString(JsonElement root, string name)
    {
        if (!root.TryGetProperty(name, out var value) || value.ValueKind == JsonValueKind.Null)
        {
            return null;
        }

        return value.ValueKind == JsonValueKind.String && value.GetString() is { Length: > 0 } text
            ? text
            : throw new CommandLineException(Flag, $"\"{name}\" must be a non-empty string, got {value.GetRawText()}");
    }

    private static string FirstLine(string message)
    {
        var end = message.IndexOfAny(['\r', '\n']);
        return end < 0 ? message : message[..end];
    }
}
