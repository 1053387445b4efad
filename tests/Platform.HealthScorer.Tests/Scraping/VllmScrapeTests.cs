using System.Text;
using Platform.HealthScorer.Prometheus;
using Platform.HealthScorer.Scraping;
using Platform.HealthScorer.Tests.Fixtures;

namespace Platform.HealthScorer.Tests.Scraping;

public sealed class VllmScrapeTests
{
    private static VllmScrape Read(string fixture)
    {
        var scrape = new VllmScrape();
        scrape.Read(ScrapeFixtures.Bytes(fixture));
        return scrape;
    }

    private static VllmScrape ReadText(string text)
    {
        var scrape = new VllmScrape();
        scrape.Read(Encoding.UTF8.GetBytes(text));
        return scrape;
    }

    [Fact]
    public void Read_Vllm011DataParallel_SumsRanksTakesTheFullestKvAndIgnoresCreated()
    {
        var m = Read(ScrapeFixtures.Vllm011DataParallel);

        Assert.Equal(0, m.InvalidLines);
        Assert.False(m.Truncated);
        Assert.Equal(3 + 2, m.Value(VllmSeries.Running));
        Assert.Equal(1 + 0, m.Value(VllmSeries.Waiting));
        Assert.Equal(0.5712, m.Value(VllmSeries.KvCacheUsage));
        Assert.False(m.Has(VllmSeries.GpuCacheUsage));
        Assert.Equal(2 + 1, m.Value(VllmSeries.Preemptions));
        Assert.Equal(98203.0 + 81007.0, m.Value(VllmSeries.GenerationTokens));
        Assert.Equal(1204733.0 + 1002417.0, m.Value(VllmSeries.PrefixCacheQueries));
        Assert.Equal(811205.0 + 650120.0, m.Value(VllmSeries.PrefixCacheHits));
        Assert.Equal(24118.0 + 20003.0, m.Value(VllmSeries.SpecDecodeDrafts));
        Assert.Equal((24118.0 + 20003.0) * 4, m.Value(VllmSeries.SpecDecodeDraftTokens));
        Assert.Equal(40211.0 + 33870.0, m.Value(VllmSeries.SpecDecodeAcceptedTokens));

        var ttft = m.Histogram(VllmSeries.TimeToFirstToken);
        Assert.Equal(23, ttft.Length);
        Assert.Equal(double.PositiveInfinity, ttft.Bounds[^1]);
        var text = ScrapeFixtures.Text(ScrapeFixtures.Vllm011DataParallel);
        Assert.Equal(ScrapeFixtures.Sum(text, "vllm:time_to_first_token_seconds_count"), ttft.Total);
        Assert.Equal(ScrapeFixtures.Sum(text, "vllm:time_to_first_token_seconds_bucket", "le=\"0.1\""), ttft.Counts[7]);
        Assert.Equal(
            ScrapeFixtures.Sum(text, "vllm:inter_token_latency_seconds_count"),
            m.Histogram(VllmSeries.InterTokenLatency).Total);
    }

    [Fact]
    public void Read_Vllm08GpuNames_ReadsTheOlderNames()
    {
        var m = Read(ScrapeFixtures.Vllm08GpuNames);

        Assert.False(m.Has(VllmSeries.KvCacheUsage));
        Assert.Equal(0.2231, m.Value(VllmSeries.GpuCacheUsage));
        Assert.Equal(52210.0, m.Value(VllmSeries.GpuPrefixCacheQueries));
        Assert.Equal(20003.0, m.Value(VllmSeries.GpuPrefixCacheHits));
        Assert.False(m.Has(VllmSeries.PrefixCacheQueries));
        Assert.False(m.Has(VllmSeries.InterTokenLatency));
        Assert.Equal(403.0, m.Histogram(VllmSeries.TimeToFirstToken).Total);
        Assert.Equal(120400.0, m.Histogram(VllmSeries.TimePerOutputToken).Total);
        Assert.Equal(30100.0, m.Value(VllmSeries.SpecDecodeDrafts));
    }

    [Fact]
    public void Read_Vllm06V0_ReadsGaugesWithoutEngineLabel()
    {
        var m = Read(ScrapeFixtures.Vllm06V0);

        Assert.Equal(7.0, m.Value(VllmSeries.Running));
        Assert.Equal(2.0, m.Value(VllmSeries.Waiting));
        Assert.Equal(0.9137, m.Value(VllmSeries.GpuCacheUsage));
        Assert.Equal(0.6215, m.Value(VllmSeries.GpuPrefixCacheHitRate));
        Assert.Equal(17.0, m.Value(VllmSeries.Preemptions));
        Assert.Equal(52000.0, m.Value(VllmSeries.SpecDecodeDraftTokens));
        Assert.False(m.Has(VllmSeries.SpecDecodeDrafts));
        Assert.Equal(304.0, m.Histogram(VllmSeries.TimeToFirstToken).Total);
    }

    [Fact]
    public void Read_EngineSim_MatchesANaiveReadingOfTheSameText()
    {
        var text = ScrapeFixtures.Text(ScrapeFixtures.EngineSim);

        var m = Read(ScrapeFixtures.EngineSim);

        Assert.Equal(0, m.InvalidLines);
        Assert.Equal(ScrapeFixtures.Sum(text, "vllm:generation_tokens_total"), m.Value(VllmSeries.GenerationTokens));
        Assert.Equal(ScrapeFixtures.Sum(text, "vllm:prefix_cache_hits_total"), m.Value(VllmSeries.PrefixCacheHits));
        Assert.Equal(ScrapeFixtures.Sum(text, "vllm:spec_decode_num_accepted_tokens_total"), m.Value(VllmSeries.SpecDecodeAcceptedTokens));
        Assert.Equal(ScrapeFixtures.Sum(text, "vllm:time_to_first_token_seconds_count"), m.Histogram(VllmSeries.TimeToFirstToken).Total);
        Assert.Equal(0.0, m.Value(VllmSeries.KvCacheUsage));
    }

    [Fact]
    public void Read_CreatedSeriesOnly_CounterIsMissingNotAUnixTime()
    {
        var m = ReadText("""
            # TYPE vllm:generation_tokens_created gauge
            vllm:generation_tokens_created{engine="0"} 1.7609012263741376e+09
            # TYPE vllm:generation_tokens counter
            vllm:generation_tokens_created{engine="0"} 1.7609012263741376e+09

            """);

        Assert.False(m.Has(VllmSeries.GenerationTokens));
        Assert.True(double.IsNaN(m.Value(VllmSeries.GenerationTokens)));
    }

    [Fact]
    public void Read_GarbageBetweenValidLines_SkippedCountedAndTheRestRead()
    {
        var m = ReadText("""
            vllm:num_requests_running{engine="0"} 4
            this is not a metric line
            vllm:num_requests_waiting{engine="0" 3
            {{{{{{
            vllm:num_requests_waiting{engine="1"} 2
            vllm:kv_cache_usage_perc{engine="0"} one-half
            vllm:kv_cache_usage_perc{engine="1"} 0.25

            """);

        Assert.Equal(4, m.InvalidLines);
        Assert.Equal(2, m.FirstInvalidLine);
        Assert.Equal(LineError.InvalidValue, m.FirstInvalidError);
        Assert.Equal(4.0, m.Value(VllmSeries.Running));
        Assert.Equal(2.0, m.Value(VllmSeries.Waiting));
        Assert.Equal(0.25, m.Value(VllmSeries.KvCacheUsage));
        Assert.False(m.Truncated);
    }

    [Fact]
    public void Read_BucketWithoutUsableLe_IsAnInvalidLine()
    {
        var m = ReadText("""
            vllm:time_to_first_token_seconds_bucket{engine="0"} 4
            vllm:time_to_first_token_seconds_bucket{le="soon"} 4
            vllm:time_to_first_token_seconds_bucket{le="NaN"} 4
            vllm:time_to_first_token_seconds_bucket{le="0.5"} 1
            vllm:time_to_first_token_seconds_bucket{le="+Inf"} 2

            """);

        Assert.Equal(3, m.InvalidLines);
        Assert.Equal(2.0, m.Histogram(VllmSeries.TimeToFirstToken).Total);
    }

    [Fact]
    public void Read_BucketsInAnyOrder_SortedByBound()
    {
        var m = ReadText("""
            vllm:time_to_first_token_seconds_bucket{engine="0",le="+Inf"} 5
            vllm:time_to_first_token_seconds_bucket{engine="0",le="1.0"} 3
            vllm:time_to_first_token_seconds_bucket{engine="1",le="0.5"} 1
            vllm:time_to_first_token_seconds_bucket{engine="1",le="1.0"} 2
            vllm:time_to_first_token_seconds_bucket{engine="1",le="+Inf"} 2

            """);

        var h = m.Histogram(VllmSeries.TimeToFirstToken);
        Assert.Equal([0.5, 1.0, double.PositiveInfinity], h.Bounds.ToArray());
        Assert.Equal([1.0, 5.0, 7.0], h.Counts.ToArray());
    }

    [Fact]
    public void Read_NaNSample_NotCountedAsPresent()
    {
        var m = ReadText("vllm:kv_cache_usage_perc{engine=\"0\"} NaN\nvllm:num_requests_running 1\n");

        Assert.False(m.Has(VllmSeries.KvCacheUsage));
        Assert.True(double.IsNaN(m.Value(VllmSeries.KvCacheUsage)));
        Assert.Equal(1.0, m.Value(VllmSeries.Running));
    }

    [Fact]
    public void Read_TruncatedBody_Flagged()
    {
        var body = ScrapeFixtures.Bytes(ScrapeFixtures.Vllm011DataParallel);
        var scrape = new VllmScrape();

        scrape.Read(body.AsSpan(0, body.Length / 2));

        Assert.True(scrape.Truncated);
    }

    [Fact]
    public void Read_SecondRead_ReplacesTheFirst()
    {
        var scrape = new VllmScrape();
        scrape.Read(ScrapeFixtures.Bytes(ScrapeFixtures.Vllm011DataParallel));

        scrape.Read("vllm:num_requests_running 1\n"u8);

        Assert.Equal(1.0, scrape.Value(VllmSeries.Running));
        Assert.False(scrape.Has(VllmSeries.GenerationTokens));
        Assert.Equal(0, scrape.Histogram(VllmSeries.TimeToFirstToken).Length);
    }

    [Fact]
    public void Read_WarmInstance_AllocatesNothing()
    {
        var body = ScrapeFixtures.Bytes(ScrapeFixtures.Vllm011DataParallel);
        var scrape = new VllmScrape();
        scrape.Read(body);

        var before = GC.GetAllocatedBytesForCurrentThread();
        for (var i = 0; i < 20; i++)
        {
            scrape.Read(body);
        }

        Assert.Equal(0, GC.GetAllocatedBytesForCurrentThread() - before);
    }
}
