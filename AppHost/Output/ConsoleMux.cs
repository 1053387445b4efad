namespace Platform.AppHost.Output;

/// <summary>
/// Every process's output and the AppHost's own log, one line at a time, each prefixed with its source (a
/// replica id or "apphost") padded to one width, so interleaved lines stay readable:
/// <c>enginegeneral-0 | info: ...</c>. Prefixes are coloured when the output is a terminal and NO_COLOR is unset.
/// Thread-safe: a line is written whole.
/// </summary>
internal sealed class ConsoleMux(TextWriter writer, bool color)
{
    private static readonly string[] Palette =
        ["\u001b[36m", "\u001b[32m", "\u001b[33m", "\u001b[35m", "\u001b[34m", "\u001b[96m", "\u001b[92m", "\u001b[93m", "\u001b[95m", "\u001b[94m"];

    private const string Reset = "\u001b[0m";
    private const string Red = "\u001b[31m";

    private readonly Lock _lock = new();
    private readonly Dictionary<string, string> _colors = new(StringComparer.Ordinal);
    private int _width = 7;

    /// <summary>Colour when stdout is a terminal and NO_COLOR is not set.</summary>
    public static bool ShouldColor() =>
        !Console.IsOutputRedirected && string.IsNullOrEmpty(Environment.GetEnvironmentVariable("NO_COLOR"));

    /// <summary>Widens the prefix column to fit every source name.</summary>
    public void RegisterSources(IEnumerable<string> sources)
    {
        lock (_lock)
        {
            foreach (var source in sources)
            {
                _width = Math.Max(_width, source.Length);
                if (!_colors.ContainsKey(source))
                {
                    _colors[source] = Palette[_colors.Count % Palette.Length];
                }
            }
        }
    }

    public void WriteLine(string source, string line, bool isError = false)
    {
        lock (_lock)
        {
            var prefix = source.PadRight(_width);
            if (color)
            {
                var sourceColor = _colors.GetValueOrDefault(source, Palette[0]);
                writer.WriteLine(isError
                    ? $"{sourceColor}{prefix}{Reset} {Red}|{Reset} {line}"
                    : $"{sourceColor}{prefix} |{Reset} {line}");
            }
            else
            {
                writer.WriteLine($"{prefix} | {line}");
            }

            writer.Flush();
        }
    }

    /// <summary>A line without a prefix (the "Platform ready" line, which tools look for at the start of a line).</summary>
    public void WriteRaw(string line)
    {
        lock (_lock)
        {
            writer.WriteLine(line);
            writer.Flush();
        }
    }
}
