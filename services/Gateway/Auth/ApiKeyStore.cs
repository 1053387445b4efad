using System.Collections.Frozen;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using Microsoft.Extensions.Options;
using Platform.Fleet.Limits;

namespace Platform.Gateway.Auth;

/// <summary>
/// The gateway's API keys, held only as SHA-256 hashes. A presented key is hashed, looked up by its hash, and the
/// stored hash is compared with <see cref="CryptographicOperations.FixedTimeEquals"/>, so neither the key nor its
/// hash is ever compared byte by byte with an early exit.
/// </summary>
internal sealed partial class ApiKeyStore
{
    private const int HashLength = 32;

    /// <summary>Longest key accepted (a longer header value is not hashed at all).</summary>
    public const int MaxKeyLength = 512;

    private readonly FrozenDictionary<string, (byte[] Hash, ApiKey Key)> _byHash;

    public ApiKeyStore(IOptions<ApiKeyOptions> options, IHostEnvironment environment, ILogger<ApiKeyStore> logger)
    {
        var entries = new List<ApiKeyEntry>(options.Value.Keys);
        if (!string.IsNullOrWhiteSpace(options.Value.KeysFile))
        {
            entries.AddRange(LoadFile(options.Value.KeysFile));
        }

        var keys = new Dictionary<string, (byte[], ApiKey)>(StringComparer.Ordinal);
        var errors = new List<string>();
        for (var i = 0; i < entries.Count; i++)
        {
            Add(keys, entries[i], $"Gateway:Keys:{i}", errors);
        }

        if (keys.Count == 0 && environment.IsDevelopment() && !string.IsNullOrEmpty(options.Value.DevelopmentKey))
        {
            Add(keys, new ApiKeyEntry { Name = "development", Key = options.Value.DevelopmentKey }, "Gateway:DevelopmentKey", errors);
            Log.DevelopmentKeyInUse(logger);
        }

        if (errors.Count > 0)
        {
            throw new OptionsValidationException(ApiKeyOptions.SectionName, typeof(ApiKeyOptions), errors);
        }

        if (keys.Count == 0)
        {
            Log.NoKeys(logger);
        }
        else
        {
            Log.KeysLoaded(logger, keys.Count);
        }

        _byHash = keys.ToFrozenDictionary(StringComparer.Ordinal);
    }

    public int Count => _byHash.Count;

    /// <summary>Whether a hash (hex) is held; for tests proving only hashes are stored.</summary>
    internal IEnumerable<string> HashesForTesting => _byHash.Keys;

    /// <summary>The key presented in clear, or null when it is not known.</summary>
    public ApiKey? Find(ReadOnlySpan<char> presented)
    {
        if (presented.IsEmpty || presented.Length > MaxKeyLength)
        {
            return null;
        }

        Span<byte> utf8 = stackalloc byte[MaxKeyLength * 3];
        var length = Encoding.UTF8.GetBytes(presented, utf8);
        Span<byte> hash = stackalloc byte[HashLength];
        SHA256.HashData(utf8[..length], hash);
        CryptographicOperations.ZeroMemory(utf8[..length]);
        Span<char> hex = stackalloc char[HashLength * 2];
        Convert.TryToHexStringLower(hash, hex, out _);
        var lookup = _byHash.GetAlternateLookup<ReadOnlySpan<char>>();
        return lookup.TryGetValue(hex, out var found) && CryptographicOperations.FixedTimeEquals(found.Hash, hash)
            ? found.Key
            : null;
    }

    public static string HashKey(string key) => Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(key)));

    private static void Add(Dictionary<string, (byte[], ApiKey)> keys, ApiKeyEntry entry, string path, List<string> errors)
    {
        var tenant = entry.Name ?? entry.Tenant;
        if (string.IsNullOrWhiteSpace(tenant))
        {
            errors.Add($"{path}:Name is required (the tenant name).");
            return;
        }

        string hashHex;
        if (!string.IsNullOrEmpty(entry.Key))
        {
            if (entry.Key.Length > MaxKeyLength)
            {
                errors.Add($"{path}:Key is longer than {MaxKeyLength} characters.");
                return;
            }

            hashHex = HashKey(entry.Key);
            entry.Key = null;
        }
        else if (entry.KeyHash is { Length: HashLength * 2 } h && h.All(char.IsAsciiHexDigit))
        {
            hashHex = h.ToLowerInvariant();
        }
        else
        {
            errors.Add($"{path}: give KeyHash (SHA-256 as 64 hex digits) or Key.");
            return;
        }

        if (entry.RequestsPerMinute < 0 || entry.TokensPerMinute < 0 || entry.MaxTokens < 0)
        {
            errors.Add($"{path}: RequestsPerMinute, TokensPerMinute and MaxTokens must be >= 0.");
            return;
        }

        if (keys.ContainsKey(hashHex))
        {
            errors.Add($"{path}: the same key is configured twice.");
            return;
        }

        var key = new ApiKey(tenant, entry.AllowedModels, new RateLimits(entry.RequestsPerMinute, entry.TokensPerMinute), entry.MaxTokens);
        keys[hashHex] = (Convert.FromHexString(hashHex), key);
    }

    private static List<ApiKeyEntry> LoadFile(string path)
    {
        try
        {
            using var stream = File.OpenRead(path);
            return JsonSerializer.Deserialize<List<ApiKeyEntry>>(stream, new JsonSerializerOptions(JsonSerializerDefaults.Web)) ?? [];
        }
        catch (Exception e) when (e is IOException or JsonException or UnauthorizedAccessException)
        {
            throw new OptionsValidationException(ApiKeyOptions.SectionName, typeof(ApiKeyOptions), [$"Gateway:KeysFile '{path}' cannot be read: {e.Message}"]);
        }
    }

    private static partial class Log
    {
        [LoggerMessage(EventId = 100, Level = LogLevel.Warning, Message = "Development key in use: no API keys are configured, so the key from Gateway:DevelopmentKey is accepted (tenant 'development').")]
        public static partial void DevelopmentKeyInUse(ILogger logger);

        [LoggerMessage(EventId = 101, Level = LogLevel.Warning, Message = "No API keys are configured: every request will be rejected with 401.")]
        public static partial void NoKeys(ILogger logger);

        [LoggerMessage(EventId = 102, Level = LogLevel.Information, Message = "{Count} API keys loaded (held as SHA-256 hashes).")]
        public static partial void KeysLoaded(ILogger logger, int count);
    }
}
