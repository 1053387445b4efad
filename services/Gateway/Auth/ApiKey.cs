using System.Collections.Frozen;
using Platform.Fleet.Limits;

namespace Platform.Gateway.Auth;

/// <summary>An authenticated key: who it is and what it may do. Holds no secret.</summary>
internal sealed class ApiKey
{
    public ApiKey(string tenant, IReadOnlyCollection<string> allowedModels, RateLimits limits, int maxTokens)
    {
        Tenant = tenant;
        AllowedModels = allowedModels.Count == 0 ? null : allowedModels.ToFrozenSet(StringComparer.Ordinal);
        Limits = limits;
        MaxTokens = maxTokens;
    }

    public string Tenant { get; }

    /// <summary>Null: every model.</summary>
    public FrozenSet<string>? AllowedModels { get; }

    public RateLimits Limits { get; }

    /// <summary>Ceiling on max_tokens (0: none).</summary>
    public int MaxTokens { get; }

    public bool MayUse(string model) => AllowedModels is null || AllowedModels.Contains(model);
}
