using Microsoft.AspNetCore.Http;
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

    [Fact]
    public async Task Metrics_PoolSpeculativeAcceptanceFromTheCounters()
    {
        // Every scrape the engine has drafted 25 more times, 100 more tokens, and accepted 60 of them.
        var scrapes = 0;
        await using var engine = await ScriptedEngine.StartAsync();
        engine.Metrics = c =>
        {
            var n = Interlocked.Increment(ref scrapes);
            c.Response.ContentType = "text/plain; version=0.0.4; charset=utf-8";
            return c.Response.WriteAsync(string.Create(CultureInfo.InvariantCulture, $$"""
                # TYPE vllm:num_requests_running gauge
                vllm:num_requests_running{engine="0",model_name="llama"} 0.0
                # TYPE vllm:kv_cache_usage_perc gauge
                vllm:kv_cache_usage_perc{engine="0",model_name="llama"} 0.1
                # TYPE vllm:spec_decode_num_drafts counter
                vllm:spec_decode_num_drafts_total{engine="0",model_name="llama"} {{25 * n}}.0
                # TYPE vllm:spec_decode_num_draft_tokens counter
                vllm:spec_decode_num_draft_tokens_total{engine="0",model_name="llama"} {{100 * n}}.0
                # TYPE vllm:spec_decode_num_accepted_tokens counter
                vllm:spec_decode_num_accepted_tokens_total{engine="0",model_name="llama"} {{60 * n}}.0

                """), c.RequestAborted);
        };
        await using var host = await HealthScorerHost.StartAsync(HealthScorerHost.Configuration([engine.BaseUri], speculativeTokens: 4));
        using var http = new HttpClient { BaseAddress = host.HttpUri };

        var text = string.Empty;
        await Poll.UntilAsync(
            async () =>
            {
                text = await http.GetStringAsync("/metrics", Ct);
                // Both gauges are read on collection: wait until the pool has a window (two scrapes).
                return PoolLine(text, "platform_healthscorer_pool_spec_decode_acceptance_rate") is not null
                    && PoolLine(text, "platform_healthscorer_pool_spec_decode_mean_acceptance_length") is not null;
            },
            TimeSpan.FromSeconds(15),
            "the pool's acceptance in /metrics");

        Assert.Equal(0.6, PoolValue(text, "platform_healthscorer_pool_spec_decode_acceptance_rate"), 9);
        Assert.Equal(3.4, PoolValue(text, "platform_healthscorer_pool_spec_decode_mean_acceptance_length"), 9);
        AssertExpositionParses(text);
        await AssertPromtoolCleanAsync(text);
    }

    private static double PoolValue(string text, string name)
    {
        var line = PoolLine(text, name);
        Assert.True(line is not null, $"{name} for enginegeneral in:\n{text}");
        return double.Parse(line[(line.LastIndexOf(' ') + 1)..], CultureInfo.InvariantCulture);
    }

    private static string? PoolLine(string text, string name) =>
        text.Split('\n').FirstOrDefault(l => l.StartsWith(name + "{", StringComparison.Ordinal) && l.Contains("pool=\"enginegeneral\"", StringComparison.Ordinal));

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
