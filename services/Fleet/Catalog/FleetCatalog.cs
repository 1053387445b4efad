using System.Collections.Frozen;
using Microsoft.Extensions.Options;

namespace Platform.Fleet.Catalog;

/// <summary>The immutable catalog built once from validated <see cref="FleetCatalogOptions"/>; lookups are frozen dictionaries.</summary>
internal sealed class FleetCatalog : IFleetCatalog
{
    private readonly FrozenDictionary<string, ModelInfo> _models;
    private readonly FrozenDictionary<string, PoolInfo> _pools;
    private readonly FrozenDictionary<string, EngineInfo> _engines;

    public FleetCatalog(IOptions<FleetCatalogOptions> options)
        : this(options.Value)
    {
    }

    public FleetCatalog(FleetCatalogOptions options)
    {
        var pools = new List<PoolInfo>(options.Pools.Count);
        foreach (var pool in options.Pools)
        {
            var engines = new List<EngineInfo>(pool.Engines.Count);
            foreach (var engine in pool.Engines)
            {
                engines.Add(new EngineInfo(engine.Id!, pool.Name!, pool.Model!, WithTrailingSlash(new Uri(engine.Url!, UriKind.Absolute))));
            }

            SpeculativeInfo? speculative = null;
            if (pool.Speculative is { } s)
            {
                speculative = new SpeculativeInfo(
                    s.Method!,
                    s.DraftModel ?? string.Empty,
                    FleetCatalogValidator.ParseAffinity(s.DraftKind) ?? TaskAffinity.None,
                    s.NumSpeculativeTokens);
            }

            pools.Add(new PoolInfo(
                pool.Name!,
                pool.Model!,
                FleetCatalogValidator.ParseAffinity(pool.TaskAffinity) ?? TaskAffinity.None,
                pool.MaxModelLen,
                speculative,
                engines.AsReadOnly()));
        }

        var models = new List<ModelInfo>(options.Models.Count);
        foreach (var model in options.Models)
        {
            var served = pools.Where(p => p.Model == model.Name).ToList();
            models.Add(new ModelInfo(
                model.Name!,
                string.IsNullOrEmpty(model.FallbackModel) ? null : model.FallbackModel,
                served.Count == 0 ? 0 : served.Max(p => p.MaxModelLen),
                served.AsReadOnly()));
        }

        Models = models.AsReadOnly();
        Pools = pools.AsReadOnly();
        Engines = pools.SelectMany(p => p.Engines).ToList().AsReadOnly();
        _models = models.ToFrozenDictionary(m => m.Name, StringComparer.Ordinal);
        _pools = pools.ToFrozenDictionary(p => p.Name, StringComparer.Ordinal);
        _engines = Engines.ToFrozenDictionary(e => e.Id, StringComparer.Ordinal);
    }

    public IReadOnlyList<ModelInfo> Models { get; }

    public IReadOnlyList<PoolInfo> Pools { get; }

    public IReadOnlyList<EngineInfo> Engines { get; }

    public ModelInfo? FindModel(string name) => _models.GetValueOrDefault(name);

    public EngineInfo? FindEngine(string engineId) => _engines.GetValueOrDefault(engineId);

    public PoolInfo? FindPool(string name) => _pools.GetValueOrDefault(name);

    private static Uri WithTrailingSlash(Uri uri) =>
        uri.AbsoluteUri.EndsWith('/') ? uri : new Uri(uri.AbsoluteUri + "/", UriKind.Absolute);
}
