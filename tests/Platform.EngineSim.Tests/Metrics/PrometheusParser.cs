using System.Globalization;
using System.Text;

namespace Platform.EngineSim.Tests.Metrics;

/// <summary>
/// A deliberately strict parser of the Prometheus text format 0.0.4 as prometheus_client writes it: every
/// line is a HELP, a TYPE (right after its HELP) or a sample of the family last typed; names, label names,
/// escapes and values must be exactly right. Any deviation fails the test with the offending line.
/// </summary>
internal sealed class PrometheusParser
{
    private static readonly HashSet<string> Types = ["counter", "gauge", "histogram", "summary", "untyped"];

    private PrometheusParser()
    {
    }

    public List<MetricFamilyText> Families { get; } = [];

    public List<MetricSample> Samples { get; } = [];

    public static PrometheusParser Parse(string text)
    {
        var result = new PrometheusParser();
        Assert.True(text.Length == 0 || text.EndsWith('\n'), "The exposition must end with a newline.");
        MetricFamilyText? family = null;
        string? pendingHelp = null;
        string? pendingHelpText = null;
        var lineNumber = 0;
        foreach (var line in text.Split('\n').SkipLast(1))
        {
            lineNumber++;
            var where = $"line {lineNumber}: '{line}'";
            Assert.False(string.IsNullOrEmpty(line), $"Empty {where}");
            Assert.False(line.EndsWith(' ') || line.StartsWith(' '), $"Stray whitespace on {where}");
            if (line.StartsWith("# HELP ", StringComparison.Ordinal))
            {
                Assert.Null(pendingHelp);
                var rest = line["# HELP ".Length..];
                var space = rest.IndexOf(' ', StringComparison.Ordinal);
                Assert.True(space > 0, $"HELP without text on {where}");
                pendingHelp = rest[..space];
                pendingHelpText = UnescapeHelp(rest[(space + 1)..], where);
                Assert.True(IsMetricName(pendingHelp), $"Bad metric name on {where}");
                continue;
            }

            if (line.StartsWith("# TYPE ", StringComparison.Ordinal))
            {
                var parts = line["# TYPE ".Length..].Split(' ');
                Assert.True(parts.Length == 2, $"Bad TYPE {where}");
                Assert.Equal(pendingHelp, parts[0]);
                Assert.Contains(parts[1], Types);
                Assert.DoesNotContain(result.Families, f => f.Name == parts[0]);
                family = new MetricFamilyText(parts[0], parts[1], pendingHelpText!);
                result.Families.Add(family);
                pendingHelp = null;
                continue;
            }

            Assert.False(line.StartsWith('#'), $"Unexpected comment {where}");
            Assert.NotNull(family);
            Assert.Null(pendingHelp);
            var sample = ParseSample(line, where, family!);
            Assert.DoesNotContain(family!.Samples, s => s.Name == sample.Name && s.LabelText == sample.LabelText);
            family.Samples.Add(sample);
            result.Samples.Add(sample);
        }

        Assert.Null(pendingHelp);
        return result;
    }

    /// <summary>The sum of the samples called <paramref name="name"/> whose labels include <paramref name="labels"/>.</summary>
    public double Value(string name, params (string Name, string Value)[] labels)
    {
        var matches = Find(name, labels).ToList();
        Assert.True(matches.Count > 0, $"No sample {name} with {string.Join(",", labels)}");
        return matches.Sum(s => s.Value);
    }

    public IEnumerable<MetricSample> Find(string name, params (string Name, string Value)[] labels) =>
        Samples.Where(s => s.Name == name && labels.All(l => s.Labels.TryGetValue(l.Name, out var v) && v == l.Value));

    public MetricFamilyText? Family(string name) => Families.FirstOrDefault(f => f.Name == name);

    private static MetricSample ParseSample(string line, string where, MetricFamilyText family)
    {
        var i = 0;
        while (i < line.Length && line[i] is not '{' and not ' ')
        {
            i++;
        }

        var name = line[..i];
        Assert.True(IsMetricName(name), $"Bad sample name on {where}");
        var allowed = family.Type switch
        {
            "histogram" => new[] { family.Name + "_bucket", family.Name + "_count", family.Name + "_sum" },
            _ => [family.Name],
        };
        Assert.True(allowed.Contains(name), $"Sample {name} does not belong to family {family.Name} ({family.Type}) on {where}");

        var labels = new Dictionary<string, string>(StringComparer.Ordinal);
        var labelText = string.Empty;
        if (line[i] == '{')
        {
            var start = i + 1;
            i++;
            while (true)
            {
                var nameStart = i;
                while (line[i] != '=')
                {
                    i++;
                }

                var labelName = line[nameStart..i];
                Assert.True(IsLabelName(labelName), $"Bad label name '{labelName}' on {where}");
                Assert.True(line[i + 1] == '"', $"Unquoted label value on {where}");
                i += 2;
                var value = new StringBuilder();
                while (line[i] != '"')
                {
                    if (line[i] == '\\')
                    {
                        value.Append(line[i + 1] switch
                        {
                            '\\' => '\\',
                            '"' => '"',
                            'n' => '\n',
                            _ => throw new InvalidOperationException($"Bad escape on {where}"),
                        });
                        i += 2;
                    }
                    else
                    {
                        value.Append(line[i++]);
                    }
                }

                Assert.True(labels.TryAdd(labelName, value.ToString()), $"Duplicate label {labelName} on {where}");
                i++;
                if (line[i] == ',')
                {
                    i++;
                    continue;
                }

                Assert.True(line[i] == '}', $"Bad label list on {where}");
                labelText = line[start..i];
                i++;
                break;
            }
        }

        Assert.True(i < line.Length && line[i] == ' ', $"Missing value on {where}");
        var valueText = line[(i + 1)..];
        Assert.DoesNotContain(' ', valueText);
        return new MetricSample(name, labels, labelText, ParseValue(valueText, where), valueText);
    }

    private static double ParseValue(string text, string where) => text switch
    {
        "+Inf" => double.PositiveInfinity,
        "-Inf" => double.NegativeInfinity,
        "NaN" => double.NaN,
        _ when double.TryParse(text, NumberStyles.AllowLeadingSign | NumberStyles.AllowDecimalPoint | NumberStyles.AllowExponent, CultureInfo.InvariantCulture, out var v) => v,
        _ => throw new InvalidOperationException($"Bad value '{text}' on {where}"),
    };

    private static string UnescapeHelp(string text, string where)
    {
        var sb = new StringBuilder();
        for (var i = 0; i < text.Length; i++)
        {
            if (text[i] != '\\')
            {
                sb.Append(text[i]);
                continue;
            }

            Assert.True(i + 1 < text.Length, $"Dangling escape on {where}");
            sb.Append(text[++i] switch
            {
                '\\' => '\\',
                'n' => '\n',
                _ => throw new InvalidOperationException($"Bad HELP escape on {where}"),
            });
        }

        return sb.ToString();
    }

    private static bool IsMetricName(string name) =>
        name.Length > 0 && (char.IsAsciiLetter(name[0]) || name[0] is '_' or ':')
        && name.All(c => char.IsAsciiLetterOrDigit(c) || c is '_' or ':');

    private static bool IsLabelName(string name) =>
        name.Length > 0 && (char.IsAsciiLetter(name[0]) || name[0] == '_')
        && name.All(c => char.IsAsciiLetterOrDigit(c) || c == '_');
}

internal sealed record MetricFamilyText(string Name, string Type, string Help)
{
    public List<MetricSample> Samples { get; } = [];
}

internal sealed record MetricSample(string Name, IReadOnlyDictionary<string, string> Labels, string LabelText, double Value, string ValueText);
