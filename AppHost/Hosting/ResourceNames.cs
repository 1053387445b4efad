using System.Text.RegularExpressions;

namespace Platform.AppHost.Hosting;

/// <summary>
/// Resource names are lowercase letters and digits, starting with a letter: every orchestrator (our AppHost,
/// Aspire, Kubernetes DNS, environment variable names) spells them the same.
/// </summary>
internal static partial class ResourceNames
{
    public static void Validate(string name)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(name);
        if (!NamePattern().IsMatch(name))
        {
            throw new ArgumentException(
                $"Resource name '{name}' is invalid: use lowercase letters and digits, starting with a letter, at most 40 characters (no hyphens).",
                nameof(name));
        }
    }

    public static void ValidateEndpointName(string name)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(name);
        if (!NamePattern().IsMatch(name))
        {
            throw new ArgumentException($"Endpoint name '{name}' is invalid: use lowercase letters and digits.", nameof(name));
        }
    }

    [GeneratedRegex("^[a-z][a-z0-9]{0,39}$", RegexOptions.CultureInvariant)]
    private static partial Regex NamePattern();
}
