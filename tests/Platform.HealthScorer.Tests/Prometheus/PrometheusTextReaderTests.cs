using System.Globalization;
using System.Text;
using Platform.HealthScorer.Prometheus;
using Platform.HealthScorer.Tests.Fixtures;

namespace Platform.HealthScorer.Tests.Prometheus;

public sealed class PrometheusTextReaderTests
{
    /// <summary>A line copied out of the reader (its spans only live as long as the buffer).</summary>
    private sealed record Line(
        LineKind Kind,
        LineError Error,
        int Number,
        string Name,
        double Value,
        long? Timestamp,
        MetricType FamilyType,
        SeriesSuffix Suffix,
        IReadOnlyList<(string Name, string Value)> Labels,
        string Help);

    private static List<Line> ReadAll(byte[] bytes, int maxLineBytes = PrometheusTextReader.DefaultMaxLineBytes)
    {
        var lines = new List<Line>();
        var reader = new PrometheusTextReader(bytes, maxLineBytes);
        while (reader.Read(out var l))
        {
            var labels = new List<(string, string)>();
            foreach (var label in l.Labels)
            {
                labels.Add((Encoding.UTF8.GetString(label.Name), label.Value.ToString()));
            }

            lines.Add(new Line(l.Kind, l.Error, l.Number, Encoding.UTF8.GetString(l.Name), l.Value, l.Timestamp, l.FamilyType, l.Suffix, labels, Encoding.UTF8.GetString(l.HelpText)));
        }

        return lines;
    }

    private static List<Line> ReadAll(string text) => ReadAll(Encoding.UTF8.GetBytes(text));

    private static Line Single(string text) => Assert.Single(ReadAll(text));

    [Theory]
    [InlineData(ScrapeFixtures.Vllm011DataParallel)]
    [InlineData(ScrapeFixtures.Vllm011)]
    [InlineData(ScrapeFixtures.Vllm08GpuNames)]
    [InlineData(ScrapeFixtures.Vllm06V0)]
    [InlineData(ScrapeFixtures.EngineSim)]
    public void Read_RealScrapes_EveryLineValidAndEverySampleCounted(string fixture)
    {
        var text = ScrapeFixtures.Text(fixture);

        var lines = ReadAll(ScrapeFixtures.Bytes(fixture));

        Assert.DoesNotContain(lines, l => l.Kind == LineKind.Invalid);
        var expectedSamples = text.Split('\n').Count(l => l.Length > 0 && l[0] != '#');
        Assert.Equal(expectedSamples, lines.Count(l => l.Kind == LineKind.Sample));
        Assert.Equal(text.Split('\n').Count(l => l.StartsWith("# TYPE ", StringComparison.Ordinal)), lines.Count(l => l.Kind == LineKind.Type));
        Assert.All(lines.Where(l => l.Kind == LineKind.Sample), l => Assert.NotEqual(MetricType.Untyped, l.FamilyType));
    }

    [Fact]
    public void Read_Vllm011DataParallel_CountersCreatedSeriesAndHistogramsKnowTheirFamily()
    {
        var lines = ReadAll(ScrapeFixtures.Bytes(ScrapeFixtures.Vllm011DataParallel));

        var generation = lines.Where(l => l.Kind == LineKind.Sample && l.Name == "vllm:generation_tokens_total").ToList();
        Assert.Equal(2, generation.Count);
        Assert.All(generation, l => Assert.Equal(MetricType.Counter, l.FamilyType));
        Assert.Equal(["0", "1"], generation.Select(l => l.Labels.Single(x => x.Name == "engine").Value));
        Assert.Equal(98203.0 + 81007.0, generation.Sum(l => l.Value));

        // prometheus_client writes a counter's _created as its own gauge family: a Unix time, not a count.
        var created = lines.Where(l => l.Kind == LineKind.Sample && l.Name == "vllm:generation_tokens_created").ToList();
        Assert.All(created, l => Assert.Equal(MetricType.Gauge, l.FamilyType));
        Assert.All(created, l => Assert.Equal(1.7609012263741376e+09, l.Value));

        var buckets = lines.Where(l => l.Kind == LineKind.Sample && l.Name == "vllm:time_to_first_token_seconds_bucket").ToList();
        Assert.All(buckets, l => Assert.Equal((MetricType.Histogram, SeriesSuffix.Bucket), (l.FamilyType, l.Suffix)));
        Assert.Equal(2, buckets.Count(l => l.Labels.Any(x => x == ("le", "+Inf"))));
        Assert.Contains(lines, l => l.Name == "vllm:time_to_first_token_seconds_count" && l.Suffix == SeriesSuffix.Count);
        Assert.Contains(lines, l => l.Name == "vllm:time_to_first_token_seconds_sum" && l.Suffix == SeriesSuffix.Sum);
        Assert.Contains(lines, l => l.Name == "http_request_size_bytes_count" && l.FamilyType == MetricType.Summary && l.Suffix == SeriesSuffix.Count);

        var info = Assert.Single(lines, l => l.Name == "vllm:cache_config_info" && l.Labels.Contains(("engine", "1")));
        Assert.Equal(14, info.Labels.Count);
        Assert.Contains(("num_gpu_blocks", "31337"), info.Labels);

        var help = Assert.Single(lines, l => l.Kind == LineKind.Help && l.Name == "vllm:time_per_output_token_seconds");
        Assert.Equal("Histogram of time per output token in seconds.DEPRECATED: Use vllm:inter_token_latency_seconds instead.", help.Help);
    }

    [Fact]
    public void Read_EscapedLabelValue_UnescapedOnRequest()
    {
        var lines = ReadAll(ScrapeFixtures.Bytes(ScrapeFixtures.Vllm06V0));

        var running = Assert.Single(lines, l => l.Kind == LineKind.Sample && l.Name == "vllm:num_requests_running");
        Assert.Equal([("model_name", "team \"alpha\" llama\\8b")], running.Labels);
        Assert.Equal(7.0, running.Value);
    }

    [Fact]
    public void LabelValue_Escapes_UnescapedAndCompared()
    {
        var reader = new PrometheusTextReader("m{a=\"x\\\\y\\\"z\\nw\\q\",b=\"\"} 1\n"u8);
        Assert.True(reader.Read(out var line));

        Assert.True(line.Labels.TryGetValue("a"u8, out var a));
        Assert.True(a.HasEscapes);
        Assert.Equal("x\\y\"z\nw\\q", a.ToString());
        Assert.True(a.ValueEquals("x\\y\"z\nw\\q"u8));
        Assert.False(a.ValueEquals("x\\y"u8));
        Span<byte> small = stackalloc byte[3];
        Assert.False(a.TryUnescape(small, out _));
        Assert.True(line.Labels.TryGetValue("b"u8, out var b));
        Assert.Equal(string.Empty, b.ToString());
        Assert.False(line.Labels.TryGetValue("c"u8, out _));
        Assert.Equal(2, line.Labels.Count());
    }

    [Theory]
    [InlineData("m 1.0", 1.0)]
    [InlineData("m 0.0", 0.0)]
    [InlineData("m -0.5", -0.5)]
    [InlineData("m 1e-05", 1e-05)]
    [InlineData("m 1.7769301736864316e+09", 1.7769301736864316e+09)]
    [InlineData("m 1.048576e+06", 1048576)]
    [InlineData("m 123456789012345678901234", 123456789012345678901234.0)]
    [InlineData("m 0.1", 0.1)]
    [InlineData("m .5", 0.5)]
    [InlineData("m 5.", 5.0)]
    [InlineData("m +3", 3.0)]
    [InlineData("m +Inf", double.PositiveInfinity)]
    [InlineData("m -Inf", double.NegativeInfinity)]
    [InlineData("m inf", double.PositiveInfinity)]
    [InlineData("m Infinity", double.PositiveInfinity)]
    [InlineData("m NaN", double.NaN)]
    [InlineData("m nan", double.NaN)]
    [InlineData("m{} 2", 2.0)]
    [InlineData("m{a=\"}\"} 3", 3.0)]
    [InlineData("m{ a = \"x\" , b=\"y\", } 4", 4.0)]
    [InlineData("m\t5", 5.0)]
    [InlineData("  m 6  ", 6.0)]
    public void Read_Values_ParsedExactly(string text, double expected)
    {
        var line = Single(text + "\n");

        Assert.Equal(LineKind.Sample, line.Kind);
        Assert.Equal("m", line.Name);
        Assert.Equal(expected, line.Value);
        Assert.Null(line.Timestamp);
    }

    [Fact]
    public void Read_Timestamps_Kept()
    {
        var lines = ReadAll("a 1 1700000000000\nb{x=\"1\"} 2 -5\nc 3 17  \n");

        Assert.Equal([1700000000000L, -5L, 17L], lines.Select(l => l.Timestamp!.Value));
    }

    [Fact]
    public void Read_FastPathValues_EqualTheRuntimeParser()
    {
        var random = new Random(7);
        for (var i = 0; i < 20_000; i++)
        {
            var digits = random.Next(1, 16);
            var number = new StringBuilder();
            for (var d = 0; d < digits; d++)
            {
                number.Append((char)('0' + random.Next(10)));
            }

            var point = random.Next(0, digits + 1);
            var text = point == digits ? number.ToString() : number.ToString().Insert(point, ".");
            if (random.Next(3) == 0)
            {
                text = "-" + text;
            }

            Assert.True(PrometheusValue.TryParse(Encoding.ASCII.GetBytes(text), out var value), text);
            Assert.Equal(double.Parse(text, CultureInfo.InvariantCulture), value);
        }
    }

    [Fact]
    public void Read_OpenMetricsStyleFamily_SuffixesBelongToTheFamily()
    {
        var lines = ReadAll("""
            # TYPE vllm:generation_tokens counter
            vllm:generation_tokens_total{engine="0"} 10
            vllm:generation_tokens_created{engine="0"} 1.7e9
            # TYPE vllm:time_to_first_token_seconds histogram
            vllm:time_to_first_token_seconds_bucket{le="+Inf"} 3
            vllm:time_to_first_token_seconds_count 3
            vllm:time_to_first_token_seconds_sum 0.3
            vllm:time_to_first_token_seconds_created 1.7e9
            vllm:time_to_first_token_seconds_other 1
            untyped_after 1

            """.Replace("\r", string.Empty, StringComparison.Ordinal));

        var samples = lines.Where(l => l.Kind == LineKind.Sample).Select(l => (l.Name, l.FamilyType, l.Suffix)).ToList();
        Assert.Equal(
            [
                ("vllm:generation_tokens_total", MetricType.Counter, SeriesSuffix.Total),
                ("vllm:generation_tokens_created", MetricType.Counter, SeriesSuffix.Created),
                ("vllm:time_to_first_token_seconds_bucket", MetricType.Histogram, SeriesSuffix.Bucket),
                ("vllm:time_to_first_token_seconds_count", MetricType.Histogram, SeriesSuffix.Count),
                ("vllm:time_to_first_token_seconds_sum", MetricType.Histogram, SeriesSuffix.Sum),
                ("vllm:time_to_first_token_seconds_created", MetricType.Histogram, SeriesSuffix.Created),
                ("vllm:time_to_first_token_seconds_other", MetricType.Untyped, SeriesSuffix.None),
                ("untyped_after", MetricType.Untyped, SeriesSuffix.None),
            ],
            samples);
    }

    [Theory]
    [InlineData("1abc 1", nameof(LineError.InvalidMetricName))]
    [InlineData("m-x 1", nameof(LineError.InvalidMetricName))]
    [InlineData("m", nameof(LineError.MissingValue))]
    [InlineData("m ", nameof(LineError.MissingValue))]
    [InlineData("m{}", nameof(LineError.MissingValue))]
    [InlineData("m one", nameof(LineError.InvalidValue))]
    [InlineData("m 1.2.3", nameof(LineError.InvalidValue))]
    [InlineData("m 0x10", nameof(LineError.InvalidValue))]
    [InlineData("m 1 2.5", nameof(LineError.InvalidTimestamp))]
    [InlineData("m 1 2 3", nameof(LineError.UnexpectedText))]
    [InlineData("m{a=\"x\" 1", nameof(LineError.InvalidLabels))]
    [InlineData("m{a=x} 1", nameof(LineError.InvalidLabels))]
    [InlineData("m{a} 1", nameof(LineError.InvalidLabels))]
    [InlineData("m{a=\"x\"b=\"y\"} 1", nameof(LineError.InvalidLabels))]
    [InlineData("m{9a=\"x\"} 1", nameof(LineError.InvalidLabelName))]
    [InlineData("m{=\"x\"} 1", nameof(LineError.InvalidLabelName))]
    [InlineData("m{a=\"x\\", nameof(LineError.InvalidLabels))]
    [InlineData("m{a=\"unterminated} 1", nameof(LineError.InvalidLabels))]
    [InlineData("# TYPE m bogus", nameof(LineError.InvalidType))]
    [InlineData("# TYPE m", nameof(LineError.InvalidType))]
    [InlineData("# TYPE 1m counter", nameof(LineError.InvalidType))]
    [InlineData("# HELP", nameof(LineError.InvalidHelp))]
    [InlineData("# HELP 1m text", nameof(LineError.InvalidHelp))]
    [InlineData("\u00e9t\u00e9 1", nameof(LineError.InvalidMetricName))]
    public void Read_InvalidLine_ReportedAndTheNextLineStillRead(string text, string errorName)
    {
        var error = Enum.Parse<LineError>(errorName);
        var lines = ReadAll(text + "\nok 1\n");

        Assert.Equal(2, lines.Count);
        Assert.Equal((LineKind.Invalid, error, 1), (lines[0].Kind, lines[0].Error, lines[0].Number));
        Assert.Equal((LineKind.Sample, "ok", 1.0, 2), (lines[1].Kind, lines[1].Name, lines[1].Value, lines[1].Number));
    }

    [Theory]
    [InlineData("# just a comment", nameof(LineKind.Comment))]
    [InlineData("#HELP? not really", nameof(LineKind.Comment))]
    [InlineData("# HELPER m x", nameof(LineKind.Comment))]
    [InlineData("# HELP m", nameof(LineKind.Help))]
    [InlineData("# HELP m text with \\n and \\\\", nameof(LineKind.Help))]
    [InlineData("# TYPE m untyped", nameof(LineKind.Type))]
    [InlineData("   ", nameof(LineKind.Blank))]
    [InlineData("", nameof(LineKind.Blank))]
    public void Read_CommentsAndBlanks_Classified(string text, string kindName)
    {
        var kind = Enum.Parse<LineKind>(kindName);
        Assert.Equal(kind, Single(text + "\n").Kind);
    }

    [Fact]
    public void Read_CrLfLineEnds_Accepted()
    {
        var lines = ReadAll("# TYPE m gauge\r\nm{a=\"b\"} 1.5\r\n");

        Assert.Equal((LineKind.Sample, 1.5, MetricType.Gauge), (lines[1].Kind, lines[1].Value, lines[1].FamilyType));
    }

    [Fact]
    public void Read_LineOverTheLimit_RejectedAndReadingGoesOn()
    {
        var huge = "m{a=\"" + new string('x', 1 << 20) + "\"} 1\n";

        var lines = ReadAll(Encoding.UTF8.GetBytes(huge + "ok 2\n" + huge), maxLineBytes: 64 * 1024);

        Assert.Equal([LineError.LineTooLong, LineError.None, LineError.LineTooLong], lines.Select(l => l.Error));
        Assert.Equal(2.0, lines[1].Value);
    }

    [Fact]
    public void Read_BodyCutInTheMiddleOfALine_LastLineIsTruncatedNotAValue()
    {
        var lines = ReadAll("a 1\nvllm:generation_tokens_total{engine=\"0\"} 12");

        Assert.Equal((LineKind.Sample, 1.0), (lines[0].Kind, lines[0].Value));
        Assert.Equal((LineKind.Invalid, LineError.Truncated), (lines[1].Kind, lines[1].Error));
    }

    [Fact]
    public void Read_EveryPrefixOfARealScrape_NeverThrowsAndFlagsTheCut()
    {
        var body = ScrapeFixtures.Bytes(ScrapeFixtures.Vllm011DataParallel).AsSpan(0, 6000).ToArray();
        for (var cut = 0; cut <= body.Length; cut++)
        {
            var lines = ReadAll(body[..cut]);
            var cutAtLineEnd = cut == 0 || body[cut - 1] == (byte)'\n';
            Assert.Equal(!cutAtLineEnd, lines.Count > 0 && lines[^1].Error == LineError.Truncated);
            Assert.Equal(1, lines.Count(l => l.Error == LineError.Truncated) + (cutAtLineEnd ? 1 : 0));
        }
    }

    [Fact]
    public void Read_RandomBytes_NeverThrow()
    {
        var random = new Random(11);
        var alphabet = Encoding.UTF8.GetBytes("ab:_{}=\",\\ \t\n#\r019.e+-InfNa\u00ff");
        for (var i = 0; i < 5_000; i++)
        {
            var bytes = new byte[random.Next(0, 200)];
            for (var j = 0; j < bytes.Length; j++)
            {
                bytes[j] = random.Next(4) == 0 ? (byte)random.Next(256) : alphabet[random.Next(alphabet.Length)];
            }

            var lines = ReadAll(bytes);
            foreach (var line in lines.Where(l => l.Kind == LineKind.Sample))
            {
                Assert.NotEmpty(line.Name);
            }
        }
    }
}
