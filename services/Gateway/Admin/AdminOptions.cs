using Microsoft.Extensions.Options;

namespace Platform.Gateway.Admin;

/// <summary>
/// The operators' key (section <c>Gateway:Admin</c>) for the read-only <c>/admin</c> endpoints. None configured: the
/// endpoints answer 404. API keys are never admin keys, and the admin key is not an API key.
/// </summary>
internal sealed class AdminOptions
{
    public const string SectionName = "Gateway:Admin";

    /// <summary>SHA-256 of the admin key, 64 hex digits.</summary>
    public string? KeyHash { get; set; }

    /// <summary>The admin key in clear (hashed at start, never kept).</summary>
    public string? Key { get; set; }
}

/// <summary>One of <c>Key</c> or <c>KeyHash</c>, not both; a hash is 64 hex digits; a key fits a Bearer header.</summary>
internal sealed class AdminOptionsValidator : IValidateOptions<AdminOptions>
{
    public ValidateOptionsResult Validate(string? name, AdminOptions options)
    {
        var errors = new List<string>();
        if (!string.IsNullOrEmpty(options.Key) && !string.IsNullOrEmpty(options.KeyHash))
        {
            errors.Add($"{AdminOptions.SectionName}: give Key or KeyHash, not both.");
        }

        if (!string.IsNullOrEmpty(options.KeyHash) && (options.KeyHash.Length != 64 || !options.KeyHash.All(char.IsAsciiHexDigit)))
        {
            errors.Add($"{AdminOptions.SectionName}:KeyHash must be a SHA-256 as 64 hex digits.");
        }

        if (options.Key is { Length: > 0 } key && (key.Length > Auth.ApiKeyStore.MaxKeyLength || key.Any(c => c <= ' ' || c > '~' || c == ',')))
        {
            errors.Add($"{AdminOptions.SectionName}:Key must be at most {Auth.ApiKeyStore.MaxKeyLength} printable ASCII characters without spaces or commas.");
        }

        return errors.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(errors);
    }
}
