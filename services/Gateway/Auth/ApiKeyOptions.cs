using System.ComponentModel.DataAnnotations;

namespace Platform.Gateway.Auth;

/// <summary>
/// API keys (section <c>Gateway</c>): <c>Gateway:Keys</c> entries and/or a JSON file <c>Gateway:KeysFile</c> holding an
/// array of the same entries. A key is given as <see cref="ApiKeyEntry.KeyHash"/> (SHA-256, hex) or as a plain
/// <see cref="ApiKeyEntry.Key"/> that is hashed at load and never kept.
/// </summary>
internal sealed class ApiKeyOptions
{
    public const string SectionName = "Gateway";

    public List<ApiKeyEntry> Keys { get; set; } = [];

    /// <summary>Optional JSON file with an array of key entries (read once at start).</summary>
    public string? KeysFile { get; set; }

    /// <summary>In Development with no keys configured, this key is provisioned (the AppHost passes it).</summary>
    public string? DevelopmentKey { get; set; }
}

/// <summary>One API key and what it may do.</summary>
internal sealed class ApiKeyEntry
{
    /// <summary>Tenant name: used for limits, metrics and logs (never the key).</summary>
    [Required]
    public string? Name { get; set; }

    /// <summary>Alias of <see cref="Name"/>.</summary>
    public string? Tenant { get; set; }

    /// <summary>SHA-256 of the key, 64 hex digits.</summary>
    public string? KeyHash { get; set; }

    /// <summary>The key in clear (hashed at load, never kept).</summary>
    public string? Key { get; set; }

    /// <summary>Models the key may use; empty: all.</summary>
    public List<string> AllowedModels { get; set; } = [];

    /// <summary>Requests per minute; 0: unlimited.</summary>
    [Range(0, int.MaxValue)]
    public int RequestsPerMinute { get; set; }

    /// <summary>Prompt + completion tokens per minute; 0: unlimited.</summary>
    [Range(0, int.MaxValue)]
    public int TokensPerMinute { get; set; }

    /// <summary>Ceiling on max_tokens: larger requests are clamped to it; 0: no ceiling.</summary>
    [Range(0, int.MaxValue)]
    public int MaxTokens { get; set; }
}
