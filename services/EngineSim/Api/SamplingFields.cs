using System.Globalization;

namespace Platform.EngineSim.Api;

/// <summary>
/// The sampling parameters chat and completions share, read from the body and checked the way vLLM's
/// SamplingParams and V1 input processor check them (same conditions, same words).
/// </summary>
internal sealed record SamplingFields
{
    public int N { get; init; } = 1;

    public int? BestOf { get; init; }

    public bool UseBeamSearch { get; init; }

    public IReadOnlyList<string> Stop { get; init; } = [];

    public int MinTokens { get; init; }

    public bool IgnoreEos { get; init; }

    public bool IncludeStopStrInOutput { get; init; }

    public long? Seed { get; init; }

    public double Temperature { get; init; } = 1.0;

    public double TopP { get; init; } = 1.0;

    public static SamplingFields Read(RequestFields fields)
    {
        var seed = fields.Long("seed");
        return new SamplingFields
        {
            N = fields.Int("n") ?? 1,
            BestOf = fields.Int("best_of"),
            UseBeamSearch = fields.Bool("use_beam_search", false),
            Stop = fields.StringOrList("stop"),
            MinTokens = fields.Int("min_tokens") ?? 0,
            IgnoreEos = fields.Bool("ignore_eos", false),
            IncludeStopStrInOutput = fields.Bool("include_stop_str_in_output", false),
            Seed = seed == -1 ? null : seed,
            Temperature = fields.Double("temperature") ?? 1.0,
            TopP = fields.Double("top_p") ?? 1.0,
        };
    }

    /// <summary>Throws a 400 for the first rule broken, in SamplingParams' order.</summary>
    public void Validate(int maxTokens, int topLogprobs, bool speculative)
    {
        if (N < 1)
        {
            throw Bad($"n must be at least 1, got {N}.", "n");
        }

        if (!double.IsFinite(Temperature))
        {
            throw Bad($"temperature must be a finite number, got {Format(Temperature)}.", "temperature");
        }

        if (Temperature < 0)
        {
            throw Bad($"temperature must be non-negative, got {Format(Temperature)}.", "temperature");
        }

        if (Temperature > 2)
        {
            throw Bad($"temperature must be in [0, 2], got {Format(Temperature)}.", "temperature");
        }

        if (!(TopP > 0 && TopP <= 1))
        {
            throw Bad($"top_p must be in (0, 1], got {Format(TopP)}.", "top_p");
        }

        if (maxTokens < 1)
        {
            throw Bad($"max_tokens must be at least 1, got {maxTokens}.", "max_tokens");
        }

        if (MinTokens < 0)
        {
            throw Bad($"min_tokens must be greater than or equal to 0, got {MinTokens}.", "min_tokens");
        }

        if (MinTokens > maxTokens)
        {
            throw Bad($"min_tokens must be less than or equal to max_tokens={maxTokens}, got {MinTokens}.", "min_tokens");
        }

        foreach (var stop in Stop)
        {
            if (stop.Length == 0)
            {
                throw Bad("stop cannot contain an empty string.", "stop");
            }
        }

        if (Temperature < 1e-5 && N > 1 && !UseBeamSearch)
        {
            throw Bad($"n must be 1 when using greedy sampling, got {N}.", "n");
        }

        if (BestOf is > 1)
        {
            throw Bad("vLLM V1 does not yet support best_of.", "best_of");
        }

        if (topLogprobs > RequestPlanner.MaxLogprobs)
        {
            throw Bad($"Requested sample logprobs of {topLogprobs}, which is greater than max allowed: {RequestPlanner.MaxLogprobs}", "logprobs");
        }

        if (UseBeamSearch && speculative)
        {
            throw Bad("Beam search is not supported with speculative decoding: send use_beam_search to an engine without --speculative-config.", "use_beam_search");
        }
    }

    private static OpenAiException Bad(string message, string param) => OpenAiException.BadRequest(message, param);

    private static string Format(double value) => value.ToString(CultureInfo.InvariantCulture);
}
