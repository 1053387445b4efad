using Microsoft.Extensions.Options;

namespace Platform.Fleet.Catalog;

/// <summary>
/// Every rule of the catalog, checked at start and reported together (each message names its setting):
/// names present and unique (models, pools, engine ids across pools); every pool's model listed under
/// <c>Fleet:Models</c> and every listed model served by a pool; fallback models known, not the model itself and
/// free of cycles; task affinity a known word; MaxModelLen positive; every pool with at least one engine (listed or
/// discovered) whose URL is absolute http(s) with no query; speculative decoding: a known vLLM method,
/// NumSpeculativeTokens in 1..16 and below MaxModelLen, a draft model for the methods that need one (and none
/// accepted without a method), a draft model different from the target and of the same family (the name up to its
/// first '-': vLLM requires the draft to share the target's tokenizer vocabulary), DraftKind general|code.
/// </summary>
internal sealed class FleetCatalogValidator : IValidateOptions<FleetCatalogOptions>
{
    public const int MaxSpeculativeTokens = 16;

    private static readonly string[] MethodsWithModel = ["draft_model", "eagle", "eagle3", "medusa", "mlp_speculator"];
    private static readonly string[] MethodsWithoutModel = ["ngram", "deepseek_mtp"];

    public ValidateOptionsResult Validate(string? name, FleetCatalogOptions options)
    {
        var errors = new List<string>();
        var models = new Dictionary<string, FleetModelOptions>(StringComparer.Ordinal);
        for (var i = 0; i < options.Models.Count; i++)
        {
            var model = options.Models[i];
            var at = $"Fleet:Models:{i}";
            if (string.IsNullOrWhiteSpace(model.Name))
            {
                errors.Add($"{at}:Name is required.");
                continue;
            }

            if (!models.TryAdd(model.Name, model))
            {
                errors.Add($"{at}:Name '{model.Name}' is listed twice.");
            }
        }

        for (var i = 0; i < options.Models.Count; i++)
        {
            var model = options.Models[i];
            if (model.FallbackModel is not { Length: > 0 } fallback || model.Name is null)
            {
                continue;
            }

            if (fallback == model.Name)
            {
                errors.Add($"Fleet:Models:{i}:FallbackModel: model '{model.Name}' cannot fall back to itself.");
            }
            else if (!models.ContainsKey(fallback))
            {
                errors.Add($"Fleet:Models:{i}:FallbackModel '{fallback}' is not a model of the catalog.");
            }
            else if (HasCycle(model.Name, models))
            {
                errors.Add($"Fleet:Models:{i}:FallbackModel: the fallback chain from '{model.Name}' is a cycle.");
            }
        }

        var pools = new HashSet<string>(StringComparer.Ordinal);
        var engineIds = new HashSet<string>(StringComparer.Ordinal);
        var servedModels = new HashSet<string>(StringComparer.Ordinal);
        for (var j = 0; j < options.Pools.Count; j++)
        {
            ValidatePool(options.Pools[j], $"Fleet:Pools:{j}", models, pools, engineIds, errors);
            if (options.Pools[j].Model is { } served)
            {
                servedModels.Add(served);
            }
        }

        foreach (var model in models.Keys)
        {
            if (!servedModels.Contains(model))
            {
                errors.Add($"Fleet:Models: model '{model}' is served by no pool.");
            }
        }

        if (options.Pools.Count == 0)
        {
            errors.Add("Fleet:Pools: the catalog has no pool.");
        }

        return errors.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(errors);
    }

    internal static TaskAffinity? ParseAffinity(string? value) => value?.Trim().ToUpperInvariant() switch
    {
        null or "" or "NONE" => TaskAffinity.None,
        "GENERAL" => TaskAffinity.General,
        "CODE" => TaskAffinity.Code,
        _ => null,
    };

    internal static string Family(string model)
    {
        var dash = model.IndexOf('-', StringComparison.Ordinal);
        return (dash < 0 ? model : model[..dash]).ToUpperInvariant();
    }

    private static bool HasCycle(string start, Dictionary<string, FleetModelOptions> models)
    {
        var seen = new HashSet<string>(StringComparer.Ordinal) { start };
        var current = start;
        while (models.TryGetValue(current, out var model) && model.FallbackModel is { Length: > 0 } next)
        {
            if (!seen.Add(next))
            {
                return true;
            }

            current = next;
        }

        return false;
    }

    private static void ValidatePool(
        FleetPoolOptions pool,
        string at,
        Dictionary<string, FleetModelOptions> models,
        HashSet<string> pools,
        HashSet<string> engineIds,
        List<string> errors)
    {
        if (string.IsNullOrWhiteSpace(pool.Name))
        {
            errors.Add($"{at}:Name is required.");
        }
        else if (!pools.Add(pool.Name))
        {
            errors.Add($"{at}:Name '{pool.Name}' is listed twice.");
        }

        if (string.IsNullOrWhiteSpace(pool.Model))
        {
            errors.Add($"{at}:Model is required.");
        }
        else if (!models.ContainsKey(pool.Model))
        {
            errors.Add($"{at}:Model '{pool.Model}' is not listed under Fleet:Models.");
        }

        if (ParseAffinity(pool.TaskAffinity) is null)
        {
            errors.Add($"{at}:TaskAffinity '{pool.TaskAffinity}' must be general, code or none.");
        }

        if (pool.MaxModelLen <= 0)
        {
            errors.Add($"{at}:MaxModelLen must be a positive number of tokens (got {pool.MaxModelLen}).");
        }

        if (pool.Replicas < 0)
        {
            errors.Add($"{at}:Replicas cannot be negative (got {pool.Replicas}).");
        }

        if (pool.Speculative is { } speculative)
        {
            ValidateSpeculative(pool, speculative, at + ":Speculative", errors);
        }

        if (pool.Engines.Count == 0)
        {
            errors.Add($"{at}: pool '{pool.Name}' has no engines: list {at}:Engines or configure services:{pool.Name}:http:0.");
        }

        for (var k = 0; k < pool.Engines.Count; k++)
        {
            var engine = pool.Engines[k];
            var engineAt = pool.EnginesDiscovered ? $"services:{pool.Name}:http:{k}" : $"{at}:Engines:{k}";
            if (string.IsNullOrWhiteSpace(engine.Id))
            {
                errors.Add($"{engineAt}:Id is required.");
            }
            else if (engine.Id.Contains('|', StringComparison.Ordinal) || engine.Id.Any(char.IsWhiteSpace))
            {
                errors.Add($"{engineAt}:Id '{engine.Id}' cannot contain '|' or white space.");
            }
            else if (!engineIds.Add(engine.Id))
            {
                errors.Add($"{engineAt}:Id '{engine.Id}' is used by two engines.");
            }

            if (!Uri.TryCreate(engine.Url, UriKind.Absolute, out var uri)
                || (uri.Scheme != Uri.UriSchemeHttp && uri.Scheme != Uri.UriSchemeHttps)
                || uri.Query.Length > 0)
            {
                errors.Add($"{engineAt}{(pool.EnginesDiscovered ? string.Empty : ":Url")} '{engine.Url}' must be an absolute http(s) URL without a query.");
            }
        }
    }

    private static void ValidateSpeculative(FleetPoolOptions pool, FleetSpeculativeOptions speculative, string at, List<string> errors)
    {
        var hasDraft = !string.IsNullOrWhiteSpace(speculative.DraftModel);
        if (string.IsNullOrWhiteSpace(speculative.Method))
        {
            errors.Add($"{at}:Method is required (e.g. draft_model).");
        }
        else if (MethodsWithModel.Contains(speculative.Method, StringComparer.Ordinal))
        {
            if (!hasDraft)
            {
                errors.Add($"{at}:DraftModel is required by method '{speculative.Method}' (NumSpeculativeTokens without a draft model).");
            }
        }
        else if (!MethodsWithoutModel.Contains(speculative.Method, StringComparer.Ordinal))
        {
            errors.Add($"{at}:Method '{speculative.Method}' is not a vLLM speculative method ({string.Join(", ", MethodsWithModel.Concat(MethodsWithoutModel))}).");
        }

        if (speculative.NumSpeculativeTokens is < 1 or > MaxSpeculativeTokens)
        {
            errors.Add($"{at}:NumSpeculativeTokens must be in 1..{MaxSpeculativeTokens} (got {speculative.NumSpeculativeTokens}).");
        }
        else if (pool.MaxModelLen > 0 && speculative.NumSpeculativeTokens >= pool.MaxModelLen)
        {
            errors.Add($"{at}:NumSpeculativeTokens ({speculative.NumSpeculativeTokens}) must be below the pool's MaxModelLen ({pool.MaxModelLen}).");
        }

        if (hasDraft && pool.Model is { Length: > 0 } target)
        {
            if (string.Equals(speculative.DraftModel, target, StringComparison.Ordinal))
            {
                errors.Add($"{at}:DraftModel '{speculative.DraftModel}' is the pool's own model.");
            }
            else if (speculative.Method == "draft_model" && Family(speculative.DraftModel!) != Family(target))
            {
                errors.Add($"{at}:DraftModel '{speculative.DraftModel}' is not of the family of '{target}': a draft model must share the target's tokenizer.");
            }
        }

        if (speculative.DraftKind is { } kind && ParseAffinity(kind) is not (TaskAffinity.General or TaskAffinity.Code))
        {
            errors.Add($"{at}:DraftKind '{kind}' must be general or code.");
        }
    }
}
