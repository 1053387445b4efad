using System.Globalization;
using System.Text;
using Microsoft.Extensions.Options;
using Platform.Fleet.Catalog;
using Platform.Fleet.State;
using Platform.HealthScorer.Scoring;
using Platform.HealthScorer.Scraping;
using Platform.HealthScorer.Tests.Fixtures;

namespace Platform.HealthScorer.Tests.Scoring;

public sealed class EngineTrackerTests
{
    private static readonly DateTimeOffset T0 = new(2026, 1, 1, 12, 0, 0, TimeSpan.Zero);
    private static readonly double[] TtftBounds = [0.01, 0.1, 1.0];

    private static readonly EngineInfo Engine = new("enginegeneral-0", "enginegeneral", "llama", new Uri("http://127.0.0.1:1/"));

    private static HealthScorerOptions Options(Action<HealthScorerOptions>? configure = null)
    {
        var o = new HealthScorerOptions { Window = TimeSpan.FromSeconds(10), StallAfter = TimeSpan.FromSeconds(3) };
        configure?.Invoke(o);
        return o;
    }

    private static EngineTracker Tracker(HealthScorerOptions? options = null, int speculativeTokens = 0)
    {
        options ??= Options();
        var pool = new PoolInfo(
            "enginegeneral",
            "llama",
            TaskAffinity.General,
            32768,
            speculativeTokens > 0 ? new SpeculativeInfo("draft_model", "llama-draft", TaskAffinity.General, speculativeTokens) : null,
            [Engine]);
        return new EngineTracker(Engine, pool, options, new DefaultScoringPolicy(Microsoft.Extensions.Options.Options.Create(options)));
    }

    /// <summary>A V1 body with the given values; TTFT bucket counts are cumulative over <see cref="TtftBounds"/> then +Inf.</summary>
    private static string Body(
        double running = 0,
        double waiting = 0,
        double? kv = 0.1,
        double generated = 0,
        double preemptions = 0,
        double[]? ttft = null,
        double queries = 0,
        double hits = 0,
        (double Drafts, double DraftTokens, double Accepted)? spec = null)
    {
        var sb = new StringBuilder();
        void Line(string name, double value, string labels = "engine=\"0\"") =>
            sb.Append(CultureInfo.InvariantCulture, $"{name}{{{labels}}} {value.ToString("R", CultureInfo.InvariantCulture)}\n");

        Line("vllm:num_requests_running", running);
        Line("vllm:num_requests_waiting", waiting);
        if (kv is { } k)
        {
            Line("vllm:kv_cache_usage_perc", k);
        }

        Line("vllm:num_preemptions_total", preemptions);
        Line("vllm:num_preemptions_created", 1.76e9);
        Line("vllm:generation_tokens_total", generated);
        Line("vllm:generation_tokens_created", 1.76e9);
        Line("vllm:prefix_cache_queries_total", queries);
        Line("vllm:prefix_cache_hits_total", hits);
        ttft ??= [0, 0, 0, 0];
        for (var i = 0; i < TtftBounds.Length; i++)
        {
            Line("vllm:time_to_first_token_seconds_bucket", ttft[i], $"engine=\"0\",le=\"{TtftBounds[i].ToString(CultureInfo.InvariantCulture)}\"");
        }

        Line("vllm:time_to_first_token_seconds_bucket", ttft[^1], "engine=\"0\",le=\"+Inf\"");
        Line("vllm:inter_token_latency_seconds_bucket", generated, "engine=\"0\",le=\"0.01\"");
        Line("vllm:inter_token_latency_seconds_bucket", generated, "engine=\"0\",le=\"+Inf\"");
        if (spec is { } s)
        {
            Line("vllm:spec_decode_num_drafts_total", s.Drafts);
            Line("vllm:spec_decode_num_draft_tokens_total", s.DraftTokens);
            Line("vllm:spec_decode_num_accepted_tokens_total", s.Accepted);
        }

        return sb.ToString();
    }

    private static ScrapeOutcome Ok(string body, bool healthOk = true, string? version = null)
    {
        var scrape = new VllmScrape();
        scrape.Read(Encoding.UTF8.GetBytes(body));
        return new ScrapeOutcome(
            healthOk ? ScrapeFailure.None : ScrapeFailure.Health,
            healthOk ? string.Empty : "/health: HTTP 503",
            scrape,
            healthOk,
            version,
            TimeSpan.FromMilliseconds(2));
    }

    private static ScrapeOutcome Failed(ScrapeFailure failure = ScrapeFailure.Connect) =>
        new(failure, "/metrics: ConnectionError", null, false, null, TimeSpan.FromMilliseconds(1));

    [Fact]
    public void Observe_TwoScrapes_RatesAndQuantilesOverTheWindow()
    {
        var tracker = Tracker();
        tracker.Observe(Ok(Body(generated: 1000, preemptions: 2, ttft: [0, 10, 10, 10], queries: 100, hits: 10)), T0);

        // 100 more first tokens in the window: 50 under 10 ms, 40 in (10 ms, 100 ms], 10 in (100 ms, 1 s].
        var status = tracker.Observe(Ok(Body(running: 3, waiting: 1, kv: 0.5, generated: 1500, preemptions: 4, ttft: [50, 100, 110, 110], queries: 300, hits: 110)), T0.AddSeconds(10));

        Assert.Equal(50, status.GenerationTokensPerSecond, 6);
        Assert.Equal(0.2, status.PreemptionsPerSecond, 6);
        Assert.Equal(0.5, status.PrefixCacheHitRate, 6);
        Assert.Equal(0.01, status.TtftP50Seconds, 6);        // the 50th of 100 is the last one of the first bucket
        Assert.Equal(0.1 + (0.9 * 5 / 10), status.TtftP95Seconds, 6);
        Assert.Equal((3.0, 1.0, 0.5), (status.Running, status.Waiting, status.KvCacheUsage));
        Assert.Equal(MetricGeneration.V1, status.Generation);
        Assert.Empty(status.MissingSeries);
        Assert.True(status.Reachable);
        Assert.Equal(T0.AddSeconds(10), status.ObservedAt);
    }

    [Fact]
    public void Observe_FirstScrape_NoRatesYet()
    {
        var status = Tracker().Observe(Ok(Body(generated: 1000, ttft: [1, 1, 1, 1])), T0);

        Assert.True(double.IsNaN(status.GenerationTokensPerSecond));
        Assert.True(double.IsNaN(status.TtftP95Seconds));
        Assert.True(status.Reachable);
        Assert.Equal(90.0, status.Score);
    }

    [Fact]
    public void Observe_WindowSlides_OnlyTheLastWindowCounts()
    {
        var tracker = Tracker();
        for (var s = 0; s <= 20; s++)
        {
            // 10 tokens/s for 10 s, then 100 tokens/s.
            var generated = s <= 10 ? 10 * s : 100 + (100 * (s - 10));
            tracker.Observe(Ok(Body(generated: generated)), T0.AddSeconds(s));
        }

        Assert.Equal(100, tracker.Status.GenerationTokensPerSecond, 6);
        Assert.Equal(11, tracker.WindowPoints);
    }

    [Fact]
    public void Observe_CounterGoesBack_WindowStartsAnew()
    {
        var tracker = Tracker();
        tracker.Observe(Ok(Body(generated: 5000)), T0);
        tracker.Observe(Ok(Body(generated: 6000)), T0.AddSeconds(1));

        var status = tracker.Observe(Ok(Body(generated: 10)), T0.AddSeconds(2));

        Assert.True(tracker.RestartDetected);
        Assert.Equal(1, tracker.WindowPoints);
        Assert.True(double.IsNaN(status.GenerationTokensPerSecond));
        status = tracker.Observe(Ok(Body(generated: 30)), T0.AddSeconds(3));
        Assert.False(tracker.RestartDetected);
        Assert.Equal(20, status.GenerationTokensPerSecond, 6);
    }

    [Fact]
    public void Observe_KvUsage_PressureWithHysteresis()
    {
        var tracker = Tracker();
        var states = new List<PressureState>();
        var t = T0;
        foreach (var kv in (double[])[0.5, 0.88, 0.89, 0.85, 0.80, 0.79, 0.78, 0.85, 0.881])
        {
            t = t.AddSeconds(1);
            states.Add(tracker.Observe(Ok(Body(kv: kv)), t).Pressure);
        }

        var n = PressureState.Normal;
        var p = PressureState.UnderPressure;
        Assert.Equal([n, n, p, p, p, p, n, n, p], states);
    }

    [Fact]
    public void Observe_Failures_UnreachableAfterTheThresholdThenBack()
    {
        var tracker = Tracker();
        tracker.Observe(Ok(Body()), T0);

        var one = tracker.Observe(Failed(), T0.AddSeconds(1));
        var two = tracker.Observe(Failed(ScrapeFailure.Timeout), T0.AddSeconds(2));
        var back = tracker.Observe(Ok(Body()), T0.AddSeconds(3));

        Assert.True(one.Reachable);
        Assert.Equal(1, one.ConsecutiveScrapeErrors);
        Assert.Equal("/metrics: ConnectionError", one.LastScrapeError);
        Assert.False(two.Reachable);
        Assert.Equal(0, two.Score);
        Assert.Equal(T0, two.ObservedAt);
        Assert.True(back.Reachable);
        Assert.Equal(0, back.ConsecutiveScrapeErrors);
        Assert.Equal(string.Empty, back.LastScrapeError);
    }

    [Fact]
    public void Observe_LastSuccessTooOld_StaleEvenUnderTheFailureThreshold()
    {
        var tracker = Tracker(Options(o => o.UnreachableAfterFailures = 10));
        tracker.Observe(Ok(Body()), T0);

        var status = tracker.Observe(Failed(ScrapeFailure.Timeout), T0.AddSeconds(4));

        Assert.False(status.Reachable);
    }

    [Fact]
    public void Observe_NeverScrapedSuccessfully_Unreachable()
    {
        var status = Tracker().Observe(Failed(), T0);

        Assert.False(status.Reachable);
        Assert.Null(status.ObservedAt);
        Assert.Equal(0, status.Score);
    }

    [Fact]
    public void Observe_HealthSays200ButNoTokens_StalledAfterStallAfter()
    {
        var tracker = Tracker();
        tracker.Observe(Ok(Body(running: 2, generated: 100)), T0);
        var early = tracker.Observe(Ok(Body(running: 2, generated: 100)), T0.AddSeconds(2));
        var stalled = tracker.Observe(Ok(Body(running: 2, generated: 100)), T0.AddSeconds(3));
        var moving = tracker.Observe(Ok(Body(running: 2, generated: 101)), T0.AddSeconds(4));

        Assert.False(early.Stalled);
        Assert.True(stalled.Stalled);
        Assert.True(stalled.Reachable);
        Assert.False(stalled.Healthy);
        Assert.Equal(0, stalled.Score);
        Assert.False(moving.Stalled);
    }

    [Fact]
    public void Observe_IdleEngine_NeverStalled()
    {
        var tracker = Tracker();
        EngineStatus status = null!;
        for (var s = 0; s < 10; s++)
        {
            status = tracker.Observe(Ok(Body(running: 0, generated: 100)), T0.AddSeconds(s));
        }

        Assert.False(status.Stalled);
    }

    [Fact]
    public void Observe_HealthNot200_FailureAndNotCalledStalled()
    {
        var tracker = Tracker();
        tracker.Observe(Ok(Body(running: 2, generated: 100)), T0);
        tracker.Observe(Ok(Body(running: 2, generated: 100), healthOk: false), T0.AddSeconds(4));

        var status = tracker.Observe(Ok(Body(running: 2, generated: 100), healthOk: false), T0.AddSeconds(5));

        Assert.False(status.Stalled);
        Assert.False(status.Reachable);
        Assert.Equal("/health: HTTP 503", status.LastScrapeError);
    }

    [Fact]
    public void Observe_MissingKvUsage_ReportedNotZeroAndPressureKept()
    {
        var tracker = Tracker();
        tracker.Observe(Ok(Body(kv: 0.95)), T0);

        var status = tracker.Observe(Ok(Body(kv: null)), T0.AddSeconds(1));

        Assert.Equal(["vllm:kv_cache_usage_perc"], status.MissingSeries);
        Assert.True(double.IsNaN(status.KvCacheUsage));
        Assert.Equal(PressureState.UnderPressure, status.Pressure);
        Assert.Equal(50.0, status.Score);
    }

    [Fact]
    public void Observe_SpeculativePoolWithoutSpecSeries_ReportsThemMissing()
    {
        var tracker = Tracker(speculativeTokens: 4);

        var status = tracker.Observe(Ok(Body()), T0);

        Assert.Equal(
            ["vllm:spec_decode_num_drafts_total", "vllm:spec_decode_num_draft_tokens_total", "vllm:spec_decode_num_accepted_tokens_total"],
            status.MissingSeries);
        var again = tracker.Observe(Ok(Body()), T0.AddSeconds(1));
        Assert.Same(status.MissingSeries, again.MissingSeries);
    }

    [Fact]
    public void Observe_SpeculativeCounters_AcceptanceRateAndMeanLength()
    {
        var tracker = Tracker(speculativeTokens: 4);
        tracker.Observe(Ok(Body(spec: (100, 400, 200))), T0);

        var status = tracker.Observe(Ok(Body(spec: (200, 800, 440))), T0.AddSeconds(5));

        Assert.Equal(240.0 / 400, status.SpecAcceptanceRate, 9);
        Assert.Equal(1 + (240.0 / 100), status.SpecMeanAcceptanceLength, 9);
        Assert.Equal((100.0, 400.0, 240.0), (status.SpecDrafts, status.SpecDraftTokens, status.SpecAcceptedTokens));
        Assert.Empty(status.MissingSeries);
    }

    [Fact]
    public void Observe_NoSpeculation_AcceptanceIsNaN()
    {
        var tracker = Tracker();
        tracker.Observe(Ok(Body()), T0);

        var status = tracker.Observe(Ok(Body()), T0.AddSeconds(1));

        Assert.True(double.IsNaN(status.SpecAcceptanceRate));
        Assert.True(double.IsNaN(status.SpecMeanAcceptanceLength));
    }

    [Fact]
    public void Observe_V0Engine_OlderNamesAndDraftsFromK()
    {
        var tracker = Tracker(speculativeTokens: 4);
        var body = ScrapeFixtures.Text(ScrapeFixtures.Vllm06V0);
        tracker.Observe(Ok(body), T0);

        var grown = body
            .Replace("vllm:spec_decode_num_draft_tokens_total{model_name=\"team \\\"alpha\\\" llama\\\\8b\"} 52000.0", "vllm:spec_decode_num_draft_tokens_total{model_name=\"x\"} 52400.0", StringComparison.Ordinal)
            .Replace("vllm:spec_decode_num_accepted_tokens_total{model_name=\"team \\\"alpha\\\" llama\\\\8b\"} 30211.0", "vllm:spec_decode_num_accepted_tokens_total{model_name=\"x\"} 30411.0", StringComparison.Ordinal);
        Assert.NotEqual(body, grown);
        var status = tracker.Observe(Ok(grown, version: "0.6.3"), T0.AddSeconds(1));

        Assert.Equal(MetricGeneration.V0, status.Generation);
        Assert.Equal("0.6.3", status.EngineVersion);
        Assert.Equal(0.9137, status.KvCacheUsage);
        Assert.Equal(PressureState.UnderPressure, status.Pressure);
        Assert.Equal(0.6215, status.PrefixCacheHitRate);
        Assert.Equal(0.5, status.SpecAcceptanceRate, 9);
        Assert.Equal(1 + (200.0 / 100), status.SpecMeanAcceptanceLength, 9);
        Assert.Empty(status.MissingSeries);
    }

    [Fact]
    public void Observe_Vllm08GpuNames_GenerationV0AndNothingMissing()
    {
        var status = Tracker(speculativeTokens: 3).Observe(Ok(ScrapeFixtures.Text(ScrapeFixtures.Vllm08GpuNames)), T0);

        Assert.Equal(MetricGeneration.V0, status.Generation);
        Assert.Equal(0.2231, status.KvCacheUsage);
        Assert.Empty(status.MissingSeries);
    }

    [Fact]
    public void Observe_EmptyBody_EveryExpectedSeriesMissing()
    {
        var status = Tracker().Observe(Ok(string.Empty), T0);

        Assert.Equal(
            [
                "vllm:num_requests_running", "vllm:num_requests_waiting", "vllm:kv_cache_usage_perc", "vllm:num_preemptions_total",
                "vllm:generation_tokens_total", "vllm:prefix_cache_queries_total", "vllm:time_to_first_token_seconds",
                "vllm:inter_token_latency_seconds",
            ],
            status.MissingSeries);
        Assert.True(double.IsNaN(status.Running));
        Assert.Equal(MetricGeneration.Unknown, status.Generation);
    }

    [Fact]
    public void Observe_InvalidLines_ReportedAsErrorWhileTheValuesAreUsed()
    {
        var status = Tracker().Observe(Ok(Body(running: 4) + "garbage here\n"), T0);

        Assert.True(status.Reachable);
        Assert.Equal(4.0, status.Running);
        Assert.StartsWith("1 invalid line(s), first at line", status.LastScrapeError, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(0.0, 0.0, 0.0, 100.0)]
    [InlineData(0.5, 0.0, 0.0, 50.0)]
    [InlineData(0.5, 1.0, 0.0, 25.0)]
    [InlineData(0.0, 0.0, 1.0, 50.0)]
    [InlineData(0.2, 3.0, 1.0, 10.0)]
    public void DefaultPolicy_Formula(double kv, double waiting, double preemptionsPerSecond, double expected)
    {
        var policy = new DefaultScoringPolicy(Microsoft.Extensions.Options.Options.Create(Options()));
        var status = new EngineStatus { Engine = Engine, Reachable = true, KvCacheUsage = kv, Waiting = waiting, PreemptionsPerSecond = preemptionsPerSecond };

        Assert.Equal(expected, policy.Score(status));
    }

    [Fact]
    public void DefaultPolicy_SlowFirstToken_ScoredInProportion()
    {
        var policy = new DefaultScoringPolicy(Microsoft.Extensions.Options.Options.Create(Options()));
        var status = new EngineStatus { Engine = Engine, Reachable = true, KvCacheUsage = 0, TtftP95Seconds = 4 };

        Assert.Equal(25.0, policy.Score(status));
        Assert.Equal(0.0, policy.Score(status with { Stalled = true }));
        Assert.Equal(0.0, policy.Score(status with { Reachable = false }));
    }

    [Fact]
    public void Options_Validator_ReportsEveryError()
    {
        var result = new HealthScorerOptionsValidator().Validate(null, new HealthScorerOptions
        {
            PressureOpenThreshold = 0.7,
            PressureCloseThreshold = 0.8,
            ScrapeInterval = TimeSpan.FromSeconds(1),
            ScrapeTimeout = TimeSpan.FromSeconds(11),
            Window = TimeSpan.FromSeconds(1),
            StaleAfter = TimeSpan.FromMilliseconds(500),
            StallAfter = TimeSpan.FromMilliseconds(500),
        });

        Assert.True(result.Failed);
        Assert.Equal(5, result.Failures!.Count());
        Assert.Contains(result.Failures!, f => f.Contains("HealthScorer:PressureCloseThreshold", StringComparison.Ordinal));
    }
}
