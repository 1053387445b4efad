using System.Diagnostics.CodeAnalysis;

namespace Platform.Fleet.Catalog;

/// <summary>
/// Configuration section <c>Fleet</c> exactly as the AppHost writes it (<c>Fleet__Models__{i}__Name</c>,
/// <c>Fleet__Pools__{j}__Engines__{k}__Url</c>, ...). Strings where the AppHost writes words, so a wrong word is
/// reported by <see cref="FleetCatalogValidator"/> with the setting's name instead of failing inside the binder.
/// </summary>
[SuppressMessage("Usage", "CA2227:Collection properties should be read only", Justification = "Bound from configuration.")]
public sealed class FleetCatalogOptions
{
    public const string SectionName = "Fleet";

    public List<FleetModelOptions> Models { get; set; } = [];

    public List<FleetPoolOptions> Pools { get; set; } = [];
}

public sealed class FleetModelOptions
{
    public string? Name { get; set; }

    public string? FallbackModel { get; set; }
}

[SuppressMessage("Usage", "CA2227:Collection properties should be read only", Justification = "Bound from configuration.")]
public sealed class FleetPoolOptions
{
    public string? Name { get; set; }

    public string? Model { get; set; }

    /// <summary>general | code | none (absent: none).</summary>
    public string? TaskAffinity { get; set; }

    public int MaxModelLen { get; set; }

    /// <summary>Declared replica count; informational when engines are listed or discovered.</summary>
    public int Replicas { get; set; }

    public FleetSpeculativeOptions? Speculative { get; set; }

    /// <summary>Explicit engines; when empty they come from service discovery (<c>services:{Name}:http:{k}</c>).</summary>
    public List<FleetEngineOptions> Engines { get; set; } = [];

    /// <summary>True when <see cref="Engines"/> came from service-discovery configuration.</summary>
    internal bool EnginesDiscovered { get; set; }
}

public sealed class FleetSpeculativeOptions
{
    /// <summary>vLLM's speculative method; the AppHost writes draft_model.</summary>
    public string? Method { get; set; }

    public string? DraftModel { get; set; }

    /// <summary>general | code.</summary>
    public string? DraftKind { get; set; }

    public int NumSpeculativeTokens { get; set; }
}

public sealed class FleetEngineOptions
{
    public string? Id { get; set; }

    public string? Url { get; set; }
}
