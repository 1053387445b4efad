using Platform.EngineSim.Engine;

namespace Platform.EngineSim.Api;

/// <summary>Which OpenAI endpoint a generation came through; it decides the response shapes.</summary>
internal enum ApiKind
{
    /// <summary>POST /v1/chat/completions.</summary>
    Chat,

    /// <summary>POST /v1/completions.</summary>
    Completion,
}

/// <summary>One prompt of a request, tokenized; <see cref="Echo"/> is text to put before the generated text.</summary>
internal sealed record PlannedPrompt(string Text, int[] TokenIds, string? Echo);

/// <summary>One choice: the engine request behind it and the prompt it belongs to.</summary>
internal sealed record PlannedChoice(int Index, int PromptIndex, EngineRequest Request);

/// <summary>
/// A validated generation request, ready to run: n choices per prompt (choice index = prompt index * n + i,
/// as vLLM numbers them), and how to frame the answer.
/// </summary>
internal sealed record GenerationPlan
{
    public required ApiKind Kind { get; init; }

    /// <summary>"chatcmpl-..." or "cmpl-...".</summary>
    public required string Id { get; init; }

    /// <summary>Unix seconds.</summary>
    public required long Created { get; init; }

    /// <summary>The model name reported in responses (the first served name, as vLLM does).</summary>
    public required string Model { get; init; }

    public required bool Stream { get; init; }

    /// <summary>stream_options.include_usage: a final chunk with usage and no choices.</summary>
    public bool IncludeUsage { get; init; }

    /// <summary>stream_options.continuous_usage_stats: usage on every chunk.</summary>
    public bool ContinuousUsage { get; init; }

    /// <summary>Per-token logprobs wanted: chat "logprobs": true, or completions "logprobs": k.</summary>
    public bool Logprobs { get; init; }

    /// <summary>Alternatives per token (chat top_logprobs, completions logprobs).</summary>
    public int TopLogprobs { get; init; }

    public required IReadOnlyList<PlannedPrompt> Prompts { get; init; }

    public required IReadOnlyList<PlannedChoice> Choices { get; init; }
}
