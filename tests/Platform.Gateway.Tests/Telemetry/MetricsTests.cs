using System.Globalization;
using System.Text;
using System.Text.RegularExpressions;
using Microsoft.Extensions.DependencyInjection;
using Platform.Gateway.Routing;
using Platform.Gateway.Tests.Fixtures.Stack;

namespace Platform.Gateway.Tests.Telemetry;

public sealed partial class MetricsTests
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task Metrics_AfterRequests_GenAiFamiliesExposedAndExpositionParses()
    {
        var (host, _, _) = await GatewayHost.StartScriptedAsync();
        await using var _h = host;
        using var http = host.CreateHttpClient();
        using (var ok = await http.PostAsync("/v1/chat/completions", new StringContent($$"""{"model":"{{GatewayHost.Model}}","messages":[{"role":"user","content":"hi"}],"stream":true}""", Encoding.UTF8, "application/json"), Ct))
        {
            await ok.Content.ReadAsStringAsync(Ct);
        }

        using var limitedClient = host.CreateHttpClient(GatewayHost.LimitedKey);
        for (var i = 0; i < 3; i++)
        {
            using var r = await limitedClient.PostAsync("/v1/completions", new StringContent($$"""{"model":"{{GatewayHost.Model}}","prompt":"x"}""", Encoding.UTF8, "application/json"), Ct);
        }

        using var anonymous = host.CreateHttpClient(key: null);
        using (var unauthorized = await anonymous.PostAsync("/v1/completions", new StringContent("{}", Encoding.UTF8, "application/json"), Ct))
        {
            Assert.Equal(System.Net.HttpStatusCode.Unauthorized, unauthorized.StatusCode);
        }

        var text = await WaitForMetricsAsync(http, "tenant=\"tenant-limited\"");

        Assert.Contains("gen_ai_client_operation_duration_seconds_bucket{", text, StringComparison.Ordinal);
        Assert.Contains("gen_ai_client_token_usage_bucket{", text, StringComparison.Ordinal);
        Assert.Contains("gen_ai_server_time_to_first_token_seconds_bucket{", text, StringComparison.Ordinal);
        Assert.Contains("gen_ai_server_time_per_output_token_seconds_bucket{", text, StringComparison.Ordinal);
        Assert.Matches("gen_ai_token_type=\"input\"", text);
        Assert.Matches("gen_ai_token_type=\"output\"", text);
        Assert.Matches("gen_ai_operation_name=\"chat\"", text);
        Assert.Matches("gen_ai_operation_name=\"text_completion\"", text);
        Assert.Matches("gen_ai_request_model=\"llama-3.1-8b-instruct\"", text);
        Assert.Matches("platform_gateway_rate_limit_rejections_total\\{[^}]*tenant=\"tenant-limited\"[^}]*\\} [1-9][0-9]*", text);
        Assert.Matches("platform_gateway_requests_total\\{[^}]*http_response_status_code=\"401\"", text);
        Assert.Matches("platform_gateway_requests_total\\{[^}]*http_response_status_code=\"429\"", text);
        AssertExpositionParses(text);
    }

    [Fact]
    public async Task Metrics_LatencyRouting_EstimatesAndOutlierStateExposedAndExpositionParses()
    {
        var (host, _, _) = await GatewayHost.StartScriptedAsync();
        await using var _h = host;
        var latency = host.Services.GetRequiredService<EngineLatencyTracker>();
        latency.RecordFirstToken("engine-fast", TimeSpan.FromMilliseconds(20));
        latency.RecordStream("engine-fast", TimeSpan.FromMilliseconds(20), TimeSpan.FromMilliseconds(80), tokens: 7);
        latency.RecordFirstToken("engine-slow", TimeSpan.FromMilliseconds(90));
        latency.SetOutlier("engine-slow", outlier: true, latency.Estimate("engine-slow"), 4.5);
        using var http = host.CreateHttpClient();

        var text = await WaitForMetricsAsync(http, "platform_gateway_engine_latency_outlier_ejections_total");

        Assert.Matches("platform_gateway_engine_time_to_first_token_estimate_seconds\\{[^}]*engine=\"engine-fast\"[^}]*\\} 0\\.02", text);
        Assert.Matches("platform_gateway_engine_inter_token_latency_estimate_seconds\\{[^}]*engine=\"engine-fast\"[^}]*\\} 0\\.01", text);
        Assert.Matches("platform_gateway_engine_latency_outlier\\{[^}]*engine=\"engine-slow\"[^}]*\\} 1", text);
        Assert.Matches("platform_gateway_engine_latency_outlier\\{[^}]*engine=\"engine-fast\"[^}]*\\} 0", text);
        Assert.Matches("platform_gateway_engine_latency_outlier_ejections_total\\{[^}]*engine=\"engine-slow\"[^}]*\\} 1", text);
        AssertExpositionParses(text);
    }

    /// <summary>The checks promtool's "check metrics" makes on the text format, applied line by line.</summary>
    internal static void AssertExpositionParses(string text)
    {
        var types = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var line in text.Split('\n'))
        {
            if (line.Length == 0)
            {
                continue;
            }

            if (line.StartsWith("# HELP ", StringComparison.Ordinal))
            {
                Assert.Matches(HelpLine(), line);
                continue;
            }

            if (line.StartsWith("# TYPE ", StringComparison.Ordinal))
            {
                var m = TypeLine().Match(line);
                Assert.True(m.Success, $"bad TYPE line: {line}");
                Assert.True(types.TryAdd(m.Groups[1].Value, m.Groups[2].Value), $"TYPE declared twice: {line}");
                continue;
            }

            if (line.StartsWith('#'))
            {
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
            if (types[family] is not ("histogram" or "summary"))
            {
                Assert.False(family.EndsWith("_count", StringComparison.Ordinal) || family.EndsWith("_sum", StringComparison.Ordinal) || family.EndsWith("_bucket", StringComparison.Ordinal), $"reserved suffix on a {types[family]}: {line}");
            }

            if (types[family] == "counter")
            {
                Assert.True(family.EndsWith("_total", StringComparison.Ordinal), $"counter without _total: {line}");
            }
        }
    }

    private static async Task<string> WaitForMetricsAsync(HttpClient http, string family)
    {
        var until = DateTime.UtcNow.AddSeconds(10);
        while (true)
        {
            var text = await http.GetStringAsync("/metrics", Ct);
            if (text.Contains(family, StringComparison.Ordinal) || DateTime.UtcNow > until)
            {
                return text;
            }

            await Task.Yield();
        }
    }

    [GeneratedRegex("^# HELP [a-zA-Z_:][a-zA-Z0-9_:]* .*$")]
    private static partial Regex HelpLine();

    [GeneratedRegex("^# TYPE ([a-zA-Z_:][a-zA-Z0-9_:]*) (counter|gauge|histogram|summary|untyped)$")]
    private static partial Regex TypeLine();

    [GeneratedRegex("""^(?<name>[a-zA-Z_:][a-zA-Z0-9_:]*)(\{([a-zA-Z_][a-zA-Z0-9_]*="(\\.|[^"\\])*",?)*\})? (?<value>\S+)( -?\d+)?$""")]
    private static partial Regex SampleLine();
}
