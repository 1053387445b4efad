using System.Diagnostics;
using System.Globalization;
using System.Text.RegularExpressions;
using Platform.HealthScorer.Tests.Fixtures;

namespace Platform.HealthScorer.Tests.Telemetry;

public sealed partial class MetricsTests
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task Metrics_PerEngineFamiliesExposedAndPromtoolClean()
    {
        var body = ScrapeFixtures.Text(ScrapeFixtures.Vllm011DataParallel)
            .Replace("vllm:kv_cache_usage_perc{engine=\"1\",model_name=\"meta-llama/Llama-3.1-8B-Instruct\"} 0.5712", "vllm:kv_cache_usage_perc{engine=\"1\",model_name=\"meta-llama/Llama-3.1-8B-Instruct\"} 0.95", StringComparison.Ordinal);
        await using var engine = await ScriptedEngine.StartAsync(System.Text.Encoding.UTF8.GetBytes(body));
        await using var host = await HealthScorerHost.StartAsync(HealthScorerHost.Configuration([engine.BaseUri]));
        using var http = new HttpClient { BaseAddress = host.HttpUri };

        var text = string.Empty;
        await Poll.UntilAsync(
            async () =>
            {
                text = await http.GetStringAsync("/metrics", Ct);
                // The transition is counted a moment before the new status is published: wait for both.
                return text.Contains("platform_healthscorer_pressure_transitions_total{", StringComparison.Ordinal)
                    && text.Contains("platform_healthscorer_scrape_duration_seconds_bucket{", StringComparison.Ordinal)
                    && PressureOne().IsMatch(text);
            },
            TimeSpan.FromSeconds(15),
            "the HealthScorer's families in /metrics");

        Assert.Matches("platform_healthscorer_engine_score\\{[^}]*engine=\"enginegeneral-0\"[^}]*\\} ", text);
        Assert.Matches("platform_healthscorer_engine_pressure\\{[^}]*engine=\"enginegeneral-0\"[^}]*\\} 1", text);
        Assert.Matches("platform_healthscorer_engine_kv_cache_usage\\{[^}]*engine=\"enginegeneral-0\"[^}]*\\} 0.95", text);
        Assert.Matches("platform_healthscorer_engine_reachable\\{[^}]*\\} 1", text);
        // A static body with running requests: stalled after a second, which is right.
        Assert.Matches("platform_healthscorer_engine_stalled\\{[^}]*\\} [01]", text);
        Assert.Matches("platform_healthscorer_engine_missing_series\\{[^}]*\\} 0", text);
        Assert.Matches("platform_healthscorer_pressure_transitions_total\\{[^}]*to=\"under_pressure\"[^}]*\\} 1", text);
        Assert.Contains("platform_healthscorer_subscribers", text, StringComparison.Ordinal);
        AssertExpositionParses(text);
        await AssertPromtoolCleanAsync(text);
    }

    /// <summary>promtool check metrics, when promtool is on the PATH (it is on the build machines: apt's prometheus).</summary>
    private static async Task AssertPromtoolCleanAsync(string text)
    {
        var promtool = Environment.GetEnvironmentVariable("PATH")!.Split(':').Select(p => Path.Combine(p, "promtool")).FirstOrDefault(File.Exists);
        if (promtool is null)
        {
            TestContext.Current.TestOutputHelper?.WriteLine("promtool not on PATH: only the built-in line checks ran");
            return;
        }

        var start = new ProcessStartInfo(promtool, "check metrics") { RedirectStandardInput = true, RedirectStandardOutput = true, RedirectStandardError = true };
        using var process = Process.Start(start)!;
        await process.StandardInput.WriteAsync(text);
        process.StandardInput.Close();
        var output = await process.StandardOutput.ReadToEndAsync(Ct) + await process.StandardError.ReadToEndAsync(Ct);
        await process.WaitForExitAsync(Ct);
        var ours = output.Split('\n').Where(l => l.StartsWith("platform_healthscorer", StringComparison.Ordinal)).ToList();
        Assert.True(ours.Count == 0 && process.ExitCode == 0, $"promtool check metrics (exit {process.ExitCode}):\n{output}");
    }

    /// <summary>The checks promtool's "check metrics" makes on the text format, applied line by line.</summary>
    private static void AssertExpositionParses(string text)
    {
        var types = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var line in text.Split('\n'))
        {
            if (line.Length == 0 || (line.StartsWith('#') && !line.StartsWith("# TYPE ", StringComparison.Ordinal)))
            {
                continue;
            }

            if (line.StartsWith("# TYPE ", StringComparison.Ordinal))
            {
                var m = TypeLine().Match(line);
                Assert.True(m.Success, $"bad TYPE line: {line}");
                Assert.True(types.TryAdd(m.Groups[1].Value, m.Groups[2].Value), $"TYPE declared twice: {line}");
                continue;
            }

            var sample = SampleLine().Match(line);
            Assert.True(sample.Success, $"bad sample line: {line}");
            var value = sample.Groups["value"].Value;
            Assert.True(
                value is "+Inf" or "-Inf" or "NaN" || double.TryParse(value, NumberStyles.Float, CultureInfo.InvariantCulture, out _),
                $"bad value: {line}");
            var name = sample.Groups["name"].Value;
            var family = types.ContainsKey(name)
                ? name
                : types.Keys.FirstOrDefault(f => types[f] == "histogram" && (name == f + "_bucket" || name == f + "_sum" || name == f + "_count"));
            Assert.True(family is not null, $"sample without TYPE: {line}");
            if (types[family] == "counter")
            {
                Assert.True(family.EndsWith("_total", StringComparison.Ordinal), $"counter without _total: {line}");
            }
            else if (types[family] != "histogram")
            {
                Assert.False(family.EndsWith("_count", StringComparison.Ordinal) || family.EndsWith("_sum", StringComparison.Ordinal) || family.EndsWith("_bucket", StringComparison.Ordinal), $"reserved suffix: {line}");
            }
        }
    }

    [GeneratedRegex("platform_healthscorer_engine_pressure\\{[^}]*engine=\"enginegeneral-0\"[^}]*\\} 1")]
    private static partial Regex PressureOne();

    [GeneratedRegex("^# TYPE ([a-zA-Z_:][a-zA-Z0-9_:]*) (counter|gauge|histogram|summary|untyped)$")]
    private static partial Regex TypeLine();

    [GeneratedRegex("""^(?<name>[a-zA-Z_:][a-zA-Z0-9_:]*)(\{([a-zA-Z_][a-zA-Z0-9_]*="(\\.|[^"\\])*",?)*\})? (?<value>\S+)( -?\d+)?$""")]
    private static partial Regex SampleLine();
}
