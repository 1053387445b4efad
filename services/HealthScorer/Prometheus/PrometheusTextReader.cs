using System.Buffers;

namespace Platform.HealthScorer.Prometheus;

/// <summary>
/// Reads the Prometheus text exposition format (0.0.4, what vLLM's prometheus_client serves) line by line over
/// UTF-8 bytes, allocating nothing: HELP and TYPE lines, comments, blank lines, samples with label sets (escaped
/// values, trailing comma, blanks around tokens), values (<c>NaN</c>, <c>+Inf</c>, <c>-Inf</c>, exponents) and
/// optional millisecond timestamps. CRLF line ends are accepted. A bad line comes back as
/// <see cref="LineKind.Invalid"/> with the reason and the reader goes on; a line longer than the limit is
/// rejected without being looked at, and a last line without its line feed (a cut body) is reported as
/// <see cref="LineError.Truncated"/>, never read as a value.
/// </summary>
internal ref struct PrometheusTextReader
{
    /// <summary>vLLM's longest lines (cache_config_info) are under 1 KiB.</summary>
    public const int DefaultMaxLineBytes = 64 * 1024;

    // [a-zA-Z0-9_:]; the first character of a name must not be a digit.
    private static readonly SearchValues<byte> MetricNameChars =
        SearchValues.Create("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_:"u8);

    private static readonly SearchValues<byte> LabelNameChars =
        SearchValues.Create("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_"u8);

    private readonly int _maxLineBytes;
    private ReadOnlySpan<byte> _rest;
    private ReadOnlySpan<byte> _family;
    private MetricType _familyType;
    private int _number;

    public PrometheusTextReader(ReadOnlySpan<byte> text, int maxLineBytes = DefaultMaxLineBytes)
    {
        _rest = text;
        _maxLineBytes = maxLineBytes;
    }

    /// <summary>The next line; false at the end of the text.</summary>
    public bool Read(out PrometheusLine line)
    {
        if (_rest.IsEmpty)
        {
            line = default;
            return false;
        }

        _number++;
        var newline = _rest.IndexOf((byte)'\n');
        ReadOnlySpan<byte> text;
        if (newline < 0)
        {
            text = _rest;
            _rest = default;
            line = text.Length > _maxLineBytes
                ? new PrometheusLine(LineKind.Invalid, LineError.LineTooLong, _number)
                : new PrometheusLine(LineKind.Invalid, LineError.Truncated, _number);
            return true;
        }

        text = _rest[..newline];
        _rest = _rest[(newline + 1)..];
        if (text.Length > _maxLineBytes)
        {
            line = new PrometheusLine(LineKind.Invalid, LineError.LineTooLong, _number);
            return true;
        }

        if (!text.IsEmpty && text[^1] == (byte)'\r')
        {
            text = text[..^1];
        }

        text = TrimStart(text);
        if (text.IsEmpty)
        {
            line = new PrometheusLine(LineKind.Blank, LineError.None, _number);
        }
        else if (text[0] == (byte)'#')
        {
            line = ReadComment(text[1..]);
        }
        else
        {
            line = ReadSample(text);
        }

        return true;
    }

    private PrometheusLine ReadComment(ReadOnlySpan<byte> text)
    {
        text = TrimStart(text);
        var isHelp = text.StartsWith("HELP"u8);
        if (!isHelp && !text.StartsWith("TYPE"u8))
        {
            return new PrometheusLine(LineKind.Comment, LineError.None, _number);
        }

        var rest = text[4..];
        if (rest.IsEmpty)
        {
            return new PrometheusLine(LineKind.Invalid, isHelp ? LineError.InvalidHelp : LineError.InvalidType, _number);
        }

        if (!IsBlank(rest[0]))
        {
            // "# HELPER ..." is a comment.
            return new PrometheusLine(LineKind.Comment, LineError.None, _number);
        }

        rest = TrimStart(rest);
        var nameLength = MetricNameLength(rest);
        if (nameLength == 0 || (nameLength < rest.Length && !IsBlank(rest[nameLength])))
        {
            return new PrometheusLine(LineKind.Invalid, isHelp ? LineError.InvalidHelp : LineError.InvalidType, _number);
        }

        var name = rest[..nameLength];
        rest = rest[nameLength..];
        if (isHelp)
        {
            // One blank separates the name from the text; the text may be empty.
            var help = rest.IsEmpty ? rest : rest[1..];
            return new PrometheusLine(LineKind.Help, _number, name, MetricType.Untyped, help);
        }

        var word = Trim(rest);
        MetricType type;
        if (word.SequenceEqual("counter"u8))
        {
            type = MetricType.Counter;
        }
        else if (word.SequenceEqual("gauge"u8))
        {
            type = MetricType.Gauge;
        }
        else if (word.SequenceEqual("histogram"u8))
        {
            type = MetricType.Histogram;
        }
        else if (word.SequenceEqual("summary"u8))
        {
            type = MetricType.Summary;
        }
        else if (word.SequenceEqual("untyped"u8) || word.SequenceEqual("unknown"u8))
        {
            type = MetricType.Untyped;
        }
        else
        {
            return new PrometheusLine(LineKind.Invalid, LineError.InvalidType, _number);
        }

        _family = name;
        _familyType = type;
        return new PrometheusLine(LineKind.Type, _number, name, type, default);
    }

    private PrometheusLine ReadSample(ReadOnlySpan<byte> text)
    {
        var nameLength = MetricNameLength(text);
        if (nameLength == 0)
        {
            return new PrometheusLine(LineKind.Invalid, LineError.InvalidMetricName, _number);
        }

        var name = text[..nameLength];
        var rest = text[nameLength..];
        var labels = default(ReadOnlySpan<byte>);
        if (!rest.IsEmpty && rest[0] == (byte)'{')
        {
            var error = ScanLabels(rest, out var close);
            if (error != LineError.None)
            {
                return new PrometheusLine(LineKind.Invalid, error, _number);
            }

            labels = rest[1..close];
            rest = rest[(close + 1)..];
        }

        if (rest.IsEmpty)
        {
            return new PrometheusLine(LineKind.Invalid, LineError.MissingValue, _number);
        }

        if (!IsBlank(rest[0]))
        {
            return new PrometheusLine(LineKind.Invalid, nameLength == text.Length ? LineError.MissingValue : LineError.InvalidMetricName, _number);
        }

        rest = TrimStart(rest);
        var end = rest.IndexOfAny((byte)' ', (byte)'\t');
        var valueText = end < 0 ? rest : rest[..end];
        if (valueText.IsEmpty)
        {
            return new PrometheusLine(LineKind.Invalid, LineError.MissingValue, _number);
        }

        if (!PrometheusValue.TryParse(valueText, out var value))
        {
            return new PrometheusLine(LineKind.Invalid, LineError.InvalidValue, _number);
        }

        long? timestamp = null;
        if (end >= 0)
        {
            rest = TrimStart(rest[end..]);
            if (!rest.IsEmpty)
            {
                end = rest.IndexOfAny((byte)' ', (byte)'\t');
                var stampText = end < 0 ? rest : rest[..end];
                if (!PrometheusValue.TryParseTimestamp(stampText, out var stamp))
                {
                    return new PrometheusLine(LineKind.Invalid, LineError.InvalidTimestamp, _number);
                }

                timestamp = stamp;
                if (end >= 0 && !TrimStart(rest[end..]).IsEmpty)
                {
                    return new PrometheusLine(LineKind.Invalid, LineError.UnexpectedText, _number);
                }
            }
        }

        var (familyType, suffix) = Family(name);
        return new PrometheusLine(_number, name, new LabelSet(labels), value, timestamp, familyType, suffix);
    }

    /// <summary>The family the sample belongs to: the last TYPE'd name, or that name plus its type's suffixes.</summary>
    private readonly (MetricType, SeriesSuffix) Family(ReadOnlySpan<byte> name)
    {
        if (_family.IsEmpty || !name.StartsWith(_family))
        {
            return (MetricType.Untyped, SeriesSuffix.None);
        }

        var suffix = name[_family.Length..];
        if (suffix.IsEmpty)
        {
            return (_familyType, SeriesSuffix.None);
        }

        var s = _familyType switch
        {
            MetricType.Counter when suffix.SequenceEqual("_total"u8) => SeriesSuffix.Total,
            MetricType.Counter or MetricType.Histogram or MetricType.Summary when suffix.SequenceEqual("_created"u8) => SeriesSuffix.Created,
            MetricType.Histogram when suffix.SequenceEqual("_bucket"u8) => SeriesSuffix.Bucket,
            MetricType.Histogram or MetricType.Summary when suffix.SequenceEqual("_count"u8) => SeriesSuffix.Count,
            MetricType.Histogram or MetricType.Summary when suffix.SequenceEqual("_sum"u8) => SeriesSuffix.Sum,
            _ => (SeriesSuffix?)null,
        };
        return s is { } known ? (_familyType, known) : (MetricType.Untyped, SeriesSuffix.None);
    }

    /// <summary>
    /// Validates <c>{name="value",...}</c> from the opening brace; <paramref name="close"/> is the index of the closing
    /// one. Values may hold any byte but an unescaped quote; a backslash escapes the next byte.
    /// </summary>
    private static LineError ScanLabels(ReadOnlySpan<byte> text, out int close)
    {
        close = -1;
        var i = 1;
        while (true)
        {
            i += Blanks(text[i..]);
            if (i >= text.Length)
            {
                return LineError.InvalidLabels;
            }

            if (text[i] == (byte)'}')
            {
                close = i;
                return LineError.None;
            }

            var nameLength = text[i..].IndexOfAnyExcept(LabelNameChars);
            if (nameLength < 0)
            {
                return LineError.InvalidLabels;
            }

            if (nameLength == 0 || IsDigit(text[i]))
            {
                return LineError.InvalidLabelName;
            }

            i += nameLength;
            i += Blanks(text[i..]);
            if (i >= text.Length || text[i] != (byte)'=')
            {
                return LineError.InvalidLabels;
            }

            i++;
            i += Blanks(text[i..]);
            if (i >= text.Length || text[i] != (byte)'"')
            {
                return LineError.InvalidLabels;
            }

            i++;
            while (true)
            {
                var next = text[i..].IndexOfAny((byte)'"', (byte)'\\');
                if (next < 0)
                {
                    return LineError.InvalidLabels;
                }

                i += next;
                if (text[i] == (byte)'"')
                {
                    i++;
                    break;
                }

                // A backslash escapes the next byte, which must exist.
                i += 2;
                if (i > text.Length)
                {
                    return LineError.InvalidLabels;
                }
            }

            i += Blanks(text[i..]);
            if (i >= text.Length)
            {
                return LineError.InvalidLabels;
            }

            if (text[i] == (byte)',')
            {
                i++;
            }
            else if (text[i] != (byte)'}')
            {
                return LineError.InvalidLabels;
            }
        }
    }

    /// <summary>Length of the metric name at the start of <paramref name="text"/>; 0 when there is none.</summary>
    private static int MetricNameLength(ReadOnlySpan<byte> text)
    {
        if (text.IsEmpty || IsDigit(text[0]))
        {
            return 0;
        }

        var length = text.IndexOfAnyExcept(MetricNameChars);
        return length < 0 ? text.Length : length;
    }

    private static bool IsDigit(byte c) => (uint)(c - '0') <= 9;

    private static bool IsBlank(byte c) => c is (byte)' ' or (byte)'\t';

    private static int Blanks(ReadOnlySpan<byte> text)
    {
        var i = 0;
        while (i < text.Length && IsBlank(text[i]))
        {
            i++;
        }

        return i;
    }

    private static ReadOnlySpan<byte> TrimStart(ReadOnlySpan<byte> text) => text[Blanks(text)..];

    private static ReadOnlySpan<byte> Trim(ReadOnlySpan<byte> text) => text.Trim(" \t"u8);
}
