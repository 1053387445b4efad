namespace Platform.HealthScorer.Prometheus;

/// <summary>What one line of the text exposition format is.</summary>
internal enum LineKind : byte
{
    /// <summary><c>name{labels} value [timestamp]</c>.</summary>
    Sample,

    /// <summary><c># HELP name text</c>.</summary>
    Help,

    /// <summary><c># TYPE name type</c>.</summary>
    Type,

    /// <summary>Any other line starting with <c>#</c>.</summary>
    Comment,

    /// <summary>Empty or white space only.</summary>
    Blank,

    /// <summary>Not valid; <see cref="PrometheusLine.Error"/> says why. The reader goes on with the next line.</summary>
    Invalid,
}

/// <summary>Why a line is not valid (a closed set: on the scrape path failures are values, never exceptions).</summary>
internal enum LineError : byte
{
    None,
    InvalidMetricName,
    InvalidLabelName,
    InvalidLabels,
    MissingValue,
    InvalidValue,
    InvalidTimestamp,
    UnexpectedText,
    InvalidHelp,
    InvalidType,
    LineTooLong,

    /// <summary>The last line has no line feed: the body was cut (the format ends every line with one).</summary>
    Truncated,
}

/// <summary>A family's type from its <c># TYPE</c> line; samples without one are untyped.</summary>
internal enum MetricType : byte
{
    Untyped,
    Counter,
    Gauge,
    Histogram,
    Summary,
}

/// <summary>Which series of its family a sample is, relative to the last <c># TYPE</c> line.</summary>
internal enum SeriesSuffix : byte
{
    /// <summary>The family's own name (or a sample of no typed family).</summary>
    None,

    /// <summary><c>_total</c> of a counter typed without it.</summary>
    Total,

    /// <summary><c>_created</c> of a counter, histogram or summary (OpenMetrics style, in the family): a Unix time, never a count.</summary>
    Created,

    Bucket,
    Count,
    Sum,
}

/// <summary>
/// One line, as views into the scraped bytes (valid until the buffer is reused). For a sample: the metric name,
/// the label set (validated, still escaped), the value and the optional timestamp, and which family (from the last
/// TYPE line) it belongs to. For HELP and TYPE: the name and the type or the (escaped) help text.
/// </summary>
internal readonly ref struct PrometheusLine
{
    public PrometheusLine(LineKind kind, LineError error, int number)
    {
        Kind = kind;
        Error = error;
        Number = number;
    }

    public PrometheusLine(
        int number,
        ReadOnlySpan<byte> name,
        LabelSet labels,
        double value,
        long? timestamp,
        MetricType familyType,
        SeriesSuffix suffix)
    {
        Kind = LineKind.Sample;
        Number = number;
        Name = name;
        Labels = labels;
        Value = value;
        Timestamp = timestamp;
        FamilyType = familyType;
        Suffix = suffix;
    }

    public PrometheusLine(LineKind kind, int number, ReadOnlySpan<byte> name, MetricType type, ReadOnlySpan<byte> helpText)
    {
        Kind = kind;
        Number = number;
        Name = name;
        FamilyType = type;
        HelpText = helpText;
    }

    public LineKind Kind { get; }

    public LineError Error { get; }

    /// <summary>1-based line number.</summary>
    public int Number { get; }

    /// <summary>Sample, HELP or TYPE: the metric name.</summary>
    public ReadOnlySpan<byte> Name { get; }

    public LabelSet Labels { get; }

    public double Value { get; }

    /// <summary>Milliseconds since the Unix epoch, when the sample carries one.</summary>
    public long? Timestamp { get; }

    /// <summary>Sample: the type of the family it belongs to; TYPE: the declared type.</summary>
    public MetricType FamilyType { get; }

    public SeriesSuffix Suffix { get; }

    /// <summary>HELP: the text as written (<c>\\</c> and <c>\n</c> escaped).</summary>
    public ReadOnlySpan<byte> HelpText { get; }
}
