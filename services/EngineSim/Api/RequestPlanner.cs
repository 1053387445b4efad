using System.Globalization;
using System.Text.Json;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;
using Platform.EngineSim.Engine;
using Platform.EngineSim.Text;

namespace Platform.EngineSim.Api;

/// <summary>
/// Turns a chat or completions body into a <see cref="GenerationPlan"/>, checking it in vLLM's order: the
/// body's shape and its model validators (400 "Bad Request"), the model name (404), the context window
/// (400 with token counts), then the sampling parameters (400 "BadRequestError").
/// </summary>
internal sealed partial class RequestPlanner(IInferenceEngine engine, ISimTokenizer tokenizer, TimeProvider time, ILogger<RequestPlanner> logger)
{
    /// <summary>vLLM's default --max-logprobs.</summary>
    public const int MaxLogprobs = 20;

    /// <summary>vLLM's _SAMPLING_EPS: below it, temperature means greedy.</summary>
    private const double SamplingEpsilon = 1e-5;

    /// <summary>CompletionRequest.max_tokens defaults to 16 in vLLM's protocol (OpenAI's default too).</summary>
    private const int CompletionDefaultMaxTokens = 16;

    private EngineOptions Options => engine.Options;

    public GenerationPlan Plan(ApiKind kind, JsonElement root, HttpRequest http)
    {
        if (root.ValueKind != JsonValueKind.Object)
        {
            throw OpenAiException.Validation(
                $"[{{'type': 'model_attributes_type', 'loc': ('body',), 'msg': 'Input should be a valid dictionary or object to extract fields from', 'input': {RequestFields.Repr(root)}}}]");
        }

        if (KnownFields.Unknown(kind, root) is { } unknown)
        {
            LogIgnoredFields(logger, string.Join(", ", unknown));
        }

        var fields = new RequestFields(root);
        return kind == ApiKind.Chat ? PlanChat(fields, http) : PlanCompletion(fields, http);
    }

    private GenerationPlan PlanChat(RequestFields fields, HttpRequest http)
    {
        var messages = ChatTemplate.ReadMessages(fields);
        var stream = fields.Bool("stream", false);
        var (includeUsage, continuousUsage) = StreamOptions(fields, stream);
        var logprobs = fields.Bool("logprobs", false);
        var topLogprobs = fields.Int("top_logprobs") ?? 0;
        if (topLogprobs < 0)
        {
            throw OpenAiException.ValueError("`top_logprobs` must be a positive value.", "top_logprobs");
        }

        if (topLogprobs > 0 && !logprobs)
        {
            throw OpenAiException.ValueError("when using `top_logprobs`, `logprobs` must be set to true.", "top_logprobs");
        }

        var addGenerationPrompt = fields.Bool("add_generation_prompt", true);
        var continueFinal = fields.Bool("continue_final_message", false);
        if (continueFinal && addGenerationPrompt)
        {
            throw OpenAiException.ValueError("Cannot set both `continue_final_message` and `add_generation_prompt` to True.", "continue_final_message");
        }

        var sampling = SamplingFields.Read(fields);
        CheckModel(fields);
        if (continueFinal && (messages.Count == 0 || messages[^1].Role != "assistant"))
        {
            throw OpenAiException.BadRequest(
                "continue_final_message requires the final message to be from the assistant: it is the message the model continues.",
                "continue_final_message");
        }

        var promptText = ChatTemplate.Render(messages, addGenerationPrompt, continueFinal);
        var tokenIds = tokenizer.Encode(promptText);
        var maxTokens = fields.Int("max_completion_tokens") ?? fields.Int("max_tokens");
        var completionBudget = CheckContextWindow(tokenIds.Length, maxTokens);

        // echo: the new message starts with the last message's content when it has the response's role.
        var echo = fields.Bool("echo", false) && messages.Count > 0 && messages[^1].Role == "assistant" ? messages[^1].Content : null;
        var prompt = new PlannedPrompt(promptText, tokenIds, echo);
        var id = "chatcmpl-" + BaseRequestId(http);
        return Build(ApiKind.Chat, id, [prompt], sampling, completionBudget, stream, includeUsage, continuousUsage,
            logprobs, logprobs ? topLogprobs : 0);
    }

    private GenerationPlan PlanCompletion(RequestFields fields, HttpRequest http)
    {
        var stream = fields.Bool("stream", false);
        var (includeUsage, continuousUsage) = StreamOptions(fields, stream);
        var logprobs = fields.Int("logprobs");
        if (logprobs < 0)
        {
            throw OpenAiException.ValueError("`logprobs` must be a positive value.", "logprobs");
        }

        var rawPrompts = ReadPrompts(fields);
        var echo = fields.Bool("echo", false);
        var sampling = SamplingFields.Read(fields);
        CheckModel(fields);

        // Absent: 16 (the protocol default); an explicit null: the rest of the context window.
        int? requestedMax = fields.Root.TryGetProperty("max_tokens", out _)
            ? fields.Int("max_tokens")
            : CompletionDefaultMaxTokens;

        var prompts = new List<PlannedPrompt>(rawPrompts.Count);
        var maxTokens = int.MaxValue;
        foreach (var (text, ids) in rawPrompts)
        {
            var tokenIds = ids ?? tokenizer.Encode(text!);
            var promptText = text ?? Decode(ids!);
            if (tokenIds.Length == 0)
            {
                throw OpenAiException.BadRequest("The decoder prompt cannot be empty", "prompt");
            }

            maxTokens = Math.Min(maxTokens, CheckContextWindow(tokenIds.Length, requestedMax));
            prompts.Add(new PlannedPrompt(promptText, tokenIds, echo ? promptText : null));
        }

        var id = "cmpl-" + BaseRequestId(http);
        return Build(ApiKind.Completion, id, prompts, sampling, maxTokens, stream, includeUsage, continuousUsage,
            logprobs is not null, logprobs ?? 0);
    }

    private GenerationPlan Build(
        ApiKind kind, string id, IReadOnlyList<PlannedPrompt> prompts, SamplingFields sampling, int maxTokens,
        bool stream, bool includeUsage, bool continuousUsage, bool logprobs, int topLogprobs)
    {
        sampling.Validate(maxTokens, topLogprobs, Options.Speculative is not null);
        var arrival = time.GetUtcNow();
        var n = sampling.N;
        var choices = new List<PlannedChoice>(prompts.Count * n);
        for (var p = 0; p < prompts.Count; p++)
        {
            for (var i = 0; i < n; i++)
            {
                var index = (p * n) + i;
                var request = new EngineRequest
                {
                    RequestId = prompts.Count * n == 1 ? id : $"{index}_{id}",
                    PromptText = prompts[p].Text,
                    PromptTokenIds = prompts[p].TokenIds,
                    MaxTokens = maxTokens,
                    MinTokens = sampling.MinTokens,
                    Stop = sampling.Stop,
                    IncludeStopStrInOutput = sampling.IncludeStopStrInOutput,
                    IgnoreEos = sampling.IgnoreEos,

                    // vLLM's parallel sampling seeds child i with seed + i so choices differ but stay reproducible.
                    Seed = sampling.Seed is { } seed ? unchecked(seed + i) : (sampling.UseBeamSearch ? i : null),
                    Temperature = sampling.Temperature,
                    TopP = sampling.TopP,
                    Logprobs = logprobs ? topLogprobs : null,
                    ArrivalTime = arrival,
                };
                choices.Add(new PlannedChoice(index, p, request));
            }
        }

        return new GenerationPlan
        {
            Kind = kind,
            Id = id,
            Created = arrival.ToUnixTimeSeconds(),
            Model = Options.PrimaryModelName,
            Stream = stream,
            IncludeUsage = includeUsage,
            ContinuousUsage = includeUsage && continuousUsage,
            Logprobs = logprobs,
            TopLogprobs = topLogprobs,
            Prompts = prompts,
            Choices = choices,
        };
    }

    /// <summary>vLLM's _validate_input: the prompt plus the completion must fit in max_model_len.</summary>
    private int CheckContextWindow(int promptTokens, int? maxTokens)
    {
        var window = Options.MaxModelLen;
        if (maxTokens is null)
        {
            if (promptTokens >= window)
            {
                throw OpenAiException.BadRequest(
                    $"This model's maximum context length is {window} tokens. However, you requested {promptTokens} tokens in the messages, Please reduce the length of the messages.");
            }

            return window - promptTokens;
        }

        if ((long)promptTokens + maxTokens.Value > window)
        {
            throw OpenAiException.BadRequest(
                $"This model's maximum context length is {window} tokens. However, you requested {(long)maxTokens.Value + promptTokens} tokens ({promptTokens} in the messages, {maxTokens.Value} in the completion). Please reduce the length of the messages or completion.");
        }

        return maxTokens.Value;
    }

    /// <summary>A missing model means the first served model, as in vLLM; an unknown one is a 404.</summary>
    public void CheckModel(RequestFields fields)
    {
        var model = fields.String("model");
        if (string.IsNullOrEmpty(model))
        {
            return;
        }

        foreach (var name in Options.ServedModelNames)
        {
            if (string.Equals(name, model, StringComparison.Ordinal))
            {
                return;
            }
        }

        throw OpenAiException.ModelNotFound(model);
    }

    private static (bool IncludeUsage, bool Continuous) StreamOptions(RequestFields fields, bool stream)
    {
        if (!fields.TryGet("stream_options", out var options))
        {
            return (false, false);
        }

        if (options.ValueKind != JsonValueKind.Object)
        {
            throw OpenAiException.Field("stream_options", "model_type", "Input should be a valid dictionary or instance of StreamOptions", RequestFields.Repr(options));
        }

        // pydantic's check is on truthiness: an empty object passes without stream=true.
        var any = options.EnumerateObject().Any();
        if (any && !stream)
        {
            throw OpenAiException.ValueError("Stream options can only be defined when `stream=True`.", "stream_options");
        }

        var inner = new RequestFields(options);
        return (inner.Bool("include_usage", true), inner.Bool("continuous_usage_stats", false));
    }

    /// <summary>"prompt": a string, a list of strings, a list of token ids, or a list of token-id lists.</summary>
    private static List<(string? Text, int[]? Ids)> ReadPrompts(RequestFields fields)
    {
        if (!fields.TryGet("prompt", out var prompt))
        {
            throw OpenAiException.ValueError("At least one of `prompt` or `prompt_embeds` must be set.", "prompt");
        }

        if (prompt.ValueKind == JsonValueKind.String)
        {
            return [(prompt.GetString(), null)];
        }

        if (prompt.ValueKind != JsonValueKind.Array || prompt.GetArrayLength() == 0)
        {
            throw OpenAiException.Field("prompt", "union_type", "Input should be a valid string or a non-empty list", RequestFields.Repr(prompt));
        }

        var first = prompt[0];
        if (first.ValueKind == JsonValueKind.Number)
        {
            return [(null, TokenIds(prompt))];
        }

        var prompts = new List<(string?, int[]?)>(prompt.GetArrayLength());
        foreach (var item in prompt.EnumerateArray())
        {
            prompts.Add(item.ValueKind switch
            {
                JsonValueKind.String => (item.GetString(), null),
                JsonValueKind.Array => (null, TokenIds(item)),
                _ => throw OpenAiException.Field("prompt", "union_type", "Input should be a valid string or list of token ids", RequestFields.Repr(item)),
            });
        }

        return prompts;
    }

    private static int[] TokenIds(JsonElement array)
    {
        var ids = new int[array.GetArrayLength()];
        var i = 0;
        foreach (var item in array.EnumerateArray())
        {
            if (item.ValueKind != JsonValueKind.Number || !item.TryGetInt32(out ids[i]) || ids[i] < 0)
            {
                throw OpenAiException.Field("prompt", "int_type", "Input should be a valid token id (a non-negative integer)", RequestFields.Repr(item));
            }

            i++;
        }

        return ids;
    }

    private string Decode(int[] ids)
    {
        try
        {
            return tokenizer.Decode(ids);
        }
        catch (Exception e) when (e is ArgumentException or KeyNotFoundException or IndexOutOfRangeException or InvalidOperationException)
        {
            throw OpenAiException.BadRequest("The prompt contains token ids outside the model's vocabulary.", "prompt");
        }
    }

    /// <summary>vLLM uses X-Request-Id when the caller sets one, else a random uuid4 hex.</summary>
    private static string BaseRequestId(HttpRequest http)
    {
        var header = http.Headers["X-Request-Id"];
        return header.Count > 0 && !string.IsNullOrWhiteSpace(header[0]) && header[0]!.Length <= 128
            ? header[0]!
            : Guid.NewGuid().ToString("N", CultureInfo.InvariantCulture);
    }

    [LoggerMessage(EventId = 101, Level = LogLevel.Warning, Message = "The following fields were present in the request but ignored: {Fields}")]
    private static partial void LogIgnoredFields(ILogger logger, string fields);
}
