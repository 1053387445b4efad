using Microsoft.Extensions.Primitives;

namespace Platform.Gateway.Auth;

/// <summary>Reads "Bearer &lt;key&gt;" strictly: exactly one Authorization value, one scheme, one token, no controls.</summary>
internal static class BearerToken
{
    public static bool TryRead(StringValues values, out ReadOnlySpan<char> token)
    {
        token = default;
        if (values.Count != 1 || values[0] is not { } value)
        {
            return false;
        }

        return TryRead(value.AsSpan(), out token);
    }

    public static bool TryRead(ReadOnlySpan<char> value, out ReadOnlySpan<char> token)
    {
        token = default;
        const string Scheme = "Bearer ";
        if (value.Length <= Scheme.Length || !value.StartsWith(Scheme, StringComparison.OrdinalIgnoreCase))
        {
            return false;
        }

        var rest = value[Scheme.Length..];
        if (rest.Length > ApiKeyStore.MaxKeyLength)
        {
            return false;
        }

        foreach (var c in rest)
        {
            // Keys are printable ASCII without spaces or commas (a comma means a folded duplicate header).
            if (c <= ' ' || c > '~' || c == ',')
            {
                return false;
            }
        }

        token = rest;
        return true;
    }
}
