using System.Globalization;
using Platform.AppHost.Hosting;

namespace Platform.AppHost.Launch;

/// <summary>
/// The engine catalog handed to services as configuration section <c>Fleet</c> (environment variables
/// <c>Fleet__...</c>), built from the declared engine pools:
/// <code>
/// Fleet__Models__{i}__Name                       llama-3.1-8b-instruct
/// Fleet__Models__{i}__FallbackModel              phi-3-mini-4k-instruct   (absent: none)
/// Fleet__Pools__{j}__Name                        enginegeneral            (also its service name)
/// Fleet__Pools__{j}__Model                       llama-3.1-8b-instruct
/// Fleet__Pools__{j}__TaskAffinity                general | code | none
/// Fleet__Pools__{j}__MaxModelLen                 32768
/// Fleet__Pools__{j}__Replicas                    2
/// Fleet__Pools__{j}__Speculative__Method         draft_model              (absent: no speculation)
/// Fleet__Pools__{j}__Speculative__DraftModel     llama-3.2-1b-instruct
/// Fleet__Pools__{j}__Speculative__DraftKind      general | code
/// Fleet__Pools__{j}__Speculative__NumSpeculativeTokens  4
/// Fleet__Pools__{j}__Engines__{k}__Id            enginegeneral-0
/// Fleet__Pools__{j}__Engines__{k}__Url           http://127.0.0.1:18100
/// </code>
/// Arrays keep every key a plain identifier (model names have dots), so any orchestrator can set them.
/// </summary>
internal static class FleetCatalog
{
    public const string SectionName = "Fleet";

    public static IReadOnlyList<KeyValuePair<string, string>> ToConfiguration(Topology topology)
    {
        var entries = new List<KeyValuePair<string, string>>();
        void Add(string key, string value) => entries.Add(new(key, value));

        var models = new List<(string Name, string? Fallback)>();
        foreach (var pool in topology.EnginePools)
        {
            var index = models.FindIndex(m => m.Name == pool.Model);
            if (index < 0)
            {
                models.Add((pool.Model, pool.FallbackModel));
            }
            else if (models[index].Fallback is null && pool.FallbackModel is not null)
            {
                models[index] = (pool.Model, pool.FallbackModel);
            }
        }

        for (var i = 0; i < models.Count; i++)
        {
            Add($"Fleet__Models__{i}__Name", models[i].Name);
            if (models[i].Fallback is { } fallback)
            {
                Add($"Fleet__Models__{i}__FallbackModel", fallback);
            }
        }

        var j = 0;
        foreach (var pool in topology.EnginePools)
        {
            var prefix = $"Fleet__Pools__{j}__";
            Add(prefix + "Name", pool.Name);
            Add(prefix + "Model", pool.Model);
            Add(prefix + "TaskAffinity", pool.TaskAffinity.ToString().ToLowerInvariant());
            Add(prefix + "MaxModelLen", pool.MaxModelLen.ToString(CultureInfo.InvariantCulture));
            Add(prefix + "Replicas", pool.Replicas.ToString(CultureInfo.InvariantCulture));
            if (pool.Draft is { } draft)
            {
                Add(prefix + "Speculative__Method", "draft_model");
                Add(prefix + "Speculative__DraftModel", draft.Model);
                Add(prefix + "Speculative__DraftKind", draft.Kind.ToString().ToLowerInvariant());
                Add(prefix + "Speculative__NumSpeculativeTokens", draft.NumSpeculativeTokens.ToString(CultureInfo.InvariantCulture));
            }

            var k = 0;
            foreach (var replica in topology.ReplicasOf(pool))
            {
                Add($"{prefix}Engines__{k}__Id", replica.Id);
                Add($"{prefix}Engines__{k}__Url", replica.Endpoint(EnginePoolResource.EndpointName)!.Url);
                k++;
            }

            j++;
        }

        return entries;
    }

    /// <summary>Rules a catalog must satisfy before anything starts; every violation is reported.</summary>
    public static IReadOnlyList<string> Validate(IEnumerable<EnginePoolResource> pools)
    {
        var errors = new List<string>();
        var list = pools.ToList();
        var models = list.Select(p => p.Model).ToHashSet(StringComparer.Ordinal);
        foreach (var group in list.GroupBy(p => p.Model, StringComparer.Ordinal))
        {
            var fallbacks = group.Select(p => p.FallbackModel).OfType<string>().Distinct(StringComparer.Ordinal).ToList();
            if (fallbacks.Count > 1)
            {
                errors.Add($"model '{group.Key}' has conflicting fallback models: {string.Join(", ", fallbacks)}.");
            }
        }

        foreach (var pool in list)
        {
            if (pool.FallbackModel is { } fallback && !models.Contains(fallback))
            {
                errors.Add($"pool '{pool.Name}': fallback model '{fallback}' is served by no pool.");
            }
        }

        return errors;
    }
}
