using System.Collections.Frozen;
using System.Text.Json;

namespace Platform.EngineSim.Api;

/// <summary>
/// The request fields vLLM's protocol defines. Anything else is accepted and ignored, and named in one
/// warning, as vLLM's OpenAIBaseModel does ("The following fields were present in the request but ignored").
/// </summary>
internal static class KnownFields
{
    private static readonly string[] Shared =
    [
        "model", "frequency_penalty", "logit_bias", "logprobs", "max_tokens", "n", "presence_penalty", "seed", "stop",
        "stream", "stream_options", "temperature", "top_p", "user", "best_of", "use_beam_search", "top_k", "min_p",
        "repetition_penalty", "length_penalty", "stop_token_ids", "include_stop_str_in_output", "ignore_eos", "min_tokens",
        "skip_special_tokens", "spaces_between_special_tokens", "truncate_prompt_tokens", "prompt_logprobs",
        "allowed_token_ids", "add_special_tokens", "response_format", "guided_json", "guided_regex", "guided_choice",
        "guided_grammar", "guided_decoding_backend", "guided_whitespace_pattern", "structured_outputs", "priority",
        "request_id", "logits_processors", "return_tokens_as_token_ids", "cache_salt", "kv_transfer_params", "vllm_xargs",
        "echo",
    ];

    private static readonly FrozenSet<string> Chat = Shared.Concat(
    [
        "messages", "top_logprobs", "max_completion_tokens", "tools", "tool_choice", "reasoning_effort", "include_reasoning",
        "parallel_tool_calls", "bad_words", "add_generation_prompt", "continue_final_message", "documents", "chat_template",
        "chat_template_kwargs", "mm_processor_kwargs", "structural_tag", "metadata", "store", "service_tier", "modalities",
        "prediction", "thinking_token_budget",
    ]).ToFrozenSet(StringComparer.Ordinal);

    private static readonly FrozenSet<string> Completion = Shared.Concat(["prompt", "prompt_embeds", "suffix"]).ToFrozenSet(StringComparer.Ordinal);

    /// <summary>The body's unknown top-level field names, or null when there are none (the usual case: no allocation).</summary>
    public static List<string>? Unknown(ApiKind kind, JsonElement root)
    {
        var known = kind == ApiKind.Chat ? Chat : Completion;
        List<string>? unknown = null;
        foreach (var property in root.EnumerateObject())
        {
            if (!known.Contains(property.Name))
            {
                (unknown ??= []).Add(property.Name);
            }
        }

        return unknown;
    }
}
