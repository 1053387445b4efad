using System.Net;
using System.Net.Sockets;
using System.Text;
using Microsoft.AspNetCore.Http;
using Platform.HealthScorer.Tests.Fixtures;
using HealthV1 = Platform.Health.V1;

namespace Platform.HealthScorer.Tests.Scraping;

/// <summary>
/// One HealthScorer over real sockets scraping engines that misbehave in every way a scrape can go wrong: nothing
/// escapes, each engine is marked with its own error, the others are unaffected and rounds keep coming.
/// </summary>
public sealed class MisbehavingEnginesFixture : IAsyncLifetime
{
    public const int MaxBodyBytes = 256 * 1024;

    internal List<ScriptedEngine> Engines { get; } = [];

    internal HealthScorerHost Host { get; private set; } = null!;

    /// <summary>Engine id by role.</summary>
    internal Dictionary<string, string> Ids { get; } = [];

    public async ValueTask InitializeAsync()
    {
        var good = ScrapeFixtures.Bytes(ScrapeFixtures.Vllm011DataParallel);
        var roles = new (string Role, Action<ScriptedEngine> Script)[]
        {
            ("good", _ => { }),
            ("garbage", e => e.Metrics = ScriptedEngine.Body(Concat("garbage line without a value\n{{{{\n\u0000\u0001\u0002 1\n"u8.ToArray(), good, "vllm:num_requests_running{engine=\"9\"} nope\n"u8.ToArray()))),
            ("cut", e => e.Metrics = ScriptedEngine.Body(good.AsSpan(0, (good.Length / 2) + 7).ToArray())),
            ("reset", e => e.Metrics = async c =>
            {
                c.Response.ContentLength = good.Length;
                await c.Response.Body.WriteAsync(good.AsMemory(0, 4000));
                await c.Response.Body.FlushAsync();
                c.Abort();
            }),
            ("huge-body", e => e.Metrics = ScriptedEngine.Body(new byte[4 * MaxBodyBytes].Select(_ => (byte)'#').ToArray())),
            ("huge-line", e => e.Metrics = ScriptedEngine.Body(Concat(good, Encoding.UTF8.GetBytes("vllm:lora_requests_info{running_lora_adapters=\"" + new string('a', 100_000) + "\"} 1\n")))),
            ("http-500", e => e.Metrics = Status(500)),
            ("health-503", e => { e.Metrics = ScriptedEngine.Body(good); e.Health = Status(503); }),
            ("slow", e => e.Metrics = async c => await Task.Delay(TimeSpan.FromSeconds(3), c.RequestAborted)),
            ("stalled", e => e.Metrics = ScriptedEngine.Body("vllm:num_requests_running{engine=\"0\"} 2\nvllm:generation_tokens_total{engine=\"0\"} 1234\nvllm:kv_cache_usage_perc{engine=\"0\"} 0.3\n"u8.ToArray())),
        };

        var uris = new List<Uri>();
        foreach (var (role, script) in roles)
        {
            var engine = await ScriptedEngine.StartAsync(good);
            script(engine);
            Engines.Add(engine);
            Ids[role] = $"enginegeneral-{uris.Count}";
            uris.Add(engine.BaseUri);
        }

        Ids["refused"] = $"enginegeneral-{uris.Count}";
        uris.Add(new Uri($"http://127.0.0.1:{FreePort()}/"));

        var configuration = HealthScorerHost.Configuration(uris);
        configuration["HealthScorer:MaxBodyBytes"] = MaxBodyBytes.ToString(System.Globalization.CultureInfo.InvariantCulture);
        Host = await HealthScorerHost.StartAsync(configuration);
    }

    public async ValueTask DisposeAsync()
    {
        if (Host is not null)
        {
            await Host.DisposeAsync();
        }

        foreach (var engine in Engines)
        {
            await engine.DisposeAsync();
        }
    }

    private static RequestDelegate Status(int status) => c =>
    {
        c.Response.StatusCode = status;
        return Task.CompletedTask;
    };

    private static byte[] Concat(params byte[][] parts) => parts.SelectMany(p => p).ToArray();

    private static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }
}

public sealed class MisbehavingEngineTests(MisbehavingEnginesFixture fixture) : IClassFixture<MisbehavingEnginesFixture>
{
    private HealthScorerHost Host => fixture.Host;

    private Task<HealthV1.EngineHealth> Engine(string role, Func<HealthV1.EngineHealth, bool> condition, string what, TimeSpan? timeout = null) =>
        Host.WaitForEngineAsync(fixture.Ids[role], condition, what, timeout);

    [Fact]
    public async Task GoodEngine_ReachableWithItsValues()
    {
        var e = await Engine("good", e => e.Reachable && e.EngineVersion.Length > 0, "reachable with a version");

        Assert.Equal(5.0, e.Running);
        Assert.Equal(0.5712, e.KvCacheUsage);
        Assert.Equal(HealthV1.MetricGeneration.V1, e.MetricGeneration);
        Assert.Equal("0.11.0", e.EngineVersion);
        Assert.Equal(string.Empty, e.LastScrapeError);
        Assert.Empty(e.MissingSeries);
        Assert.Equal(0u, e.ConsecutiveScrapeErrors);
    }

    [Fact]
    public async Task GarbageLines_SkippedReportedAndTheRestUsed()
    {
        var e = await Engine("garbage", e => e.Reachable && e.LastScrapeError.Length > 0, "a scrape error naming the invalid lines");

        Assert.StartsWith("4 invalid line(s), first at line 1", e.LastScrapeError, StringComparison.Ordinal);
        Assert.Equal(5.0, e.Running);
        Assert.Equal(0u, e.ConsecutiveScrapeErrors);
    }

    [Fact]
    public async Task BodyCutMidLine_FailedScrapeNothingUsed()
    {
        var e = await Engine("cut", e => !e.Reachable && e.ConsecutiveScrapeErrors >= 2, "unreachable after failed scrapes");

        Assert.StartsWith("/metrics: body cut in the middle of a line", e.LastScrapeError, StringComparison.Ordinal);
        Assert.Null(e.ObservedAt);
        Assert.Equal(0, e.Score);
    }

    [Fact]
    public async Task ConnectionResetMidBody_FailedScrape()
    {
        var e = await Engine("reset", e => !e.Reachable && e.ConsecutiveScrapeErrors >= 2, "unreachable");

        Assert.StartsWith("/metrics: ", e.LastScrapeError, StringComparison.Ordinal);
    }

    [Fact]
    public async Task BodyOverTheLimit_FailedScrape()
    {
        var e = await Engine("huge-body", e => !e.Reachable && e.ConsecutiveScrapeErrors >= 2, "unreachable");

        Assert.Contains($"over the {MisbehavingEnginesFixture.MaxBodyBytes}-byte limit", e.LastScrapeError, StringComparison.Ordinal);
    }

    [Fact]
    public async Task LineOverTheLimit_SkippedAndTheRestUsed()
    {
        var e = await Engine("huge-line", e => e.Reachable && e.LastScrapeError.Length > 0, "an invalid-line error");

        Assert.Contains("LineTooLong", e.LastScrapeError, StringComparison.Ordinal);
        Assert.Equal(0.5712, e.KvCacheUsage);
    }

    [Fact]
    public async Task Http500_FailedScrape()
    {
        var e = await Engine("http-500", e => !e.Reachable && e.ConsecutiveScrapeErrors >= 2, "unreachable");

        Assert.Equal("/metrics: HTTP 500", e.LastScrapeError);
    }

    [Fact]
    public async Task HealthSays503_UnreachableThoughMetricsAreRead()
    {
        var e = await Engine("health-503", e => !e.Reachable && e.ConsecutiveScrapeErrors >= 2, "unreachable");

        Assert.Equal("/health: HTTP 503", e.LastScrapeError);
        Assert.Equal(0.5712, e.KvCacheUsage);
    }

    [Fact]
    public async Task SlowerThanTheTimeout_FailedScrape()
    {
        var e = await Engine("slow", e => !e.Reachable && e.ConsecutiveScrapeErrors >= 2, "unreachable", TimeSpan.FromSeconds(20));

        Assert.Equal("/metrics: no answer within 500 ms", e.LastScrapeError);
    }

    [Fact]
    public async Task ConnectionRefused_FailedScrape()
    {
        var e = await Engine("refused", e => !e.Reachable && e.ConsecutiveScrapeErrors >= 2, "unreachable");

        Assert.Equal("/metrics: ConnectionError", e.LastScrapeError);
    }

    [Fact]
    public async Task RunningButNoTokens_StalledAndMissingSeriesReported()
    {
        var e = await Engine("stalled", e => e.Stalled, "stalled");

        Assert.True(e.Reachable);
        Assert.Equal(0, e.Score);
        Assert.Contains("vllm:num_requests_waiting", e.MissingSeries);
        Assert.Contains("vllm:time_to_first_token_seconds", e.MissingSeries);
        Assert.True(double.IsNaN(e.Waiting));
    }

    [Fact]
    public async Task AllOfThem_RoundsKeepComingAndTheServiceStaysReady()
    {
        var first = await Host.Client.GetFleetAsync(new HealthV1.GetFleetRequest(), cancellationToken: TestContext.Current.CancellationToken);
        await Poll.UntilAsync(
            async () => (await Host.Client.GetFleetAsync(new HealthV1.GetFleetRequest(), cancellationToken: TestContext.Current.CancellationToken)).Sequence >= first.Sequence + 5,
            TimeSpan.FromSeconds(15),
            "five more snapshots");

        using var http = new HttpClient { BaseAddress = Host.HttpUri };
        using var health = await http.GetAsync("/health", TestContext.Current.CancellationToken);
        Assert.Equal(HttpStatusCode.OK, health.StatusCode);
        Assert.Equal(fixture.Ids.Count, first.Engines.Count);
    }

    [Fact]
    public async Task Metrics_ScrapeErrorsByReasonAndInvalidLines()
    {
        using var http = new HttpClient { BaseAddress = Host.HttpUri };
        string text = string.Empty;
        await Poll.UntilAsync(
            async () =>
            {
                text = await http.GetStringAsync("/metrics", TestContext.Current.CancellationToken);
                return text.Contains("reason=\"timeout\"", StringComparison.Ordinal) && text.Contains("reason=\"truncated\"", StringComparison.Ordinal);
            },
            TimeSpan.FromSeconds(20),
            "scrape errors of every kind in /metrics");

        foreach (var reason in (string[])["timeout", "connect", "http_status", "body_too_large", "truncated", "health"])
        {
            Assert.Matches($"platform_healthscorer_scrape_errors_total\\{{[^}}]*reason=\"{reason}\"[^}}]*\\}} [1-9]", text);
        }

        Assert.Matches($"platform_healthscorer_scrape_invalid_lines_total\\{{[^}}]*engine=\"{fixture.Ids["garbage"]}\"[^}}]*\\}} [1-9]", text);
        Assert.Matches($"platform_healthscorer_engine_missing_series\\{{[^}}]*engine=\"{fixture.Ids["stalled"]}\"[^}}]*\\}} [1-9]", text);
    }
}
