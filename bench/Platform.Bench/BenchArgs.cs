using System.Globalization;

namespace Platform.Bench;

/// <summary>"--name value" options of a benchmark; unknown names stop the tool with a clear message.</summary>
internal sealed class BenchArgs
{
    private readonly Dictionary<string, string> _values;

    private BenchArgs(Dictionary<string, string> values) => _values = values;

    public static BenchArgs Parse(IEnumerable<string> args)
    {
        var values = new Dictionary<string, string>(StringComparer.Ordinal);
        string? name = null;
        foreach (var arg in args)
        {
            if (arg.StartsWith("--", StringComparison.Ordinal))
            {
                name = arg[2..];
                values[name] = "true";
            }
            else if (name is not null)
            {
                values[name] = arg;
                name = null;
            }
            else
            {
                throw new ArgumentException($"unexpected argument '{arg}'");
            }
        }

        return new BenchArgs(values);
    }

    public int Int(string name, int fallback) =>
        _values.TryGetValue(name, out var v) ? int.Parse(v, CultureInfo.InvariantCulture) : fallback;

    public double Double(string name, double fallback) =>
        _values.TryGetValue(name, out var v) ? double.Parse(v, CultureInfo.InvariantCulture) : fallback;

    public string? String(string name) => _values.GetValueOrDefault(name);

    /// <summary>True when "--name" is given (alone or as "--name true").</summary>
    public bool Flag(string name) => _values.TryGetValue(name, out var v) && !v.Equals("false", StringComparison.OrdinalIgnoreCase);

    /// <summary>"K=V,K2=V2" as a dictionary (empty when the option is absent), e.g. extra environment for a process.</summary>
    public Dictionary<string, string> Settings(string name)
    {
        var settings = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var pair in (String(name) ?? string.Empty).Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            var eq = pair.IndexOf('=', StringComparison.Ordinal);
            if (eq <= 0)
            {
                throw new ArgumentException($"--{name}: expected K=V pairs separated by commas, got '{pair}'");
            }

            settings[pair[..eq]] = pair[(eq + 1)..];
        }

        return settings;
    }
}
