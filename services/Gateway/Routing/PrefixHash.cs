using Platform.Gateway.Pipeline;

namespace Platform.Gateway.Routing;

/// <summary>
/// FNV-1a over the leading characters of the system prompt and the first user message (chat) or of the prompt
/// (completions): requests that share those blocks share the engine's prefix cache.
/// </summary>
internal static class PrefixHash
{
    private const ulong Offset = 14695981039346656037UL;
    private const ulong Prime = 1099511628211UL;

    /// <summary>Null when the request has nothing to hash.</summary>
    public static ulong? Compute(GenerationRequest request, int prefixChars)
    {
        var hash = Offset;
        var any = false;
        if (request.Api == GenerationApi.Completions)
        {
            if (!string.IsNullOrEmpty(request.Prompt))
            {
                hash = Add(hash, request.Prompt, prefixChars);
                any = true;
            }
        }
        else
        {
            var systemSeen = false;
            foreach (var turn in request.Messages)
            {
                if (!systemSeen && turn.Role is "system" or "developer")
                {
                    hash = Add(hash, turn.Content, prefixChars);
                    systemSeen = any = true;
                }
                else if (turn.Role == "user")
                {
                    hash = Add(hash, turn.Content, prefixChars);
                    any = true;
                    break;
                }
            }
        }

        return any ? hash : null;
    }

    /// <summary>Hash of an engine id, for rendezvous hashing.</summary>
    public static ulong Of(string value) => Add(Offset, value, value.Length);

    /// <summary>Rendezvous weight of an engine for a prefix: a 64-bit mix of both hashes.</summary>
    public static ulong Weight(ulong prefix, ulong engine)
    {
        var x = prefix ^ (engine * 0x9E3779B97F4A7C15UL);
        x ^= x >> 33;
        x *= 0xFF51AFD7ED558CCDUL;
        x ^= x >> 33;
        x *= 0xC4CEB9FE1A85EC53UL;
        x ^= x >> 33;
        return x;
    }

    private static ulong Add(ulong hash, string text, int limit)
    {
        var span = text.AsSpan(0, Math.Min(text.Length, limit));
        foreach (var c in span)
        {
            hash = (hash ^ c) * Prime;
        }

        // A separator so ("ab", "c") and ("a", "bc") differ.
        return (hash ^ 0x1F) * Prime;
    }
}
