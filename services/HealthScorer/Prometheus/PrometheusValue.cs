using System.Globalization;
using System.Text;

namespace Platform.HealthScorer.Prometheus;

/// <summary>Sample values and timestamps as the text format writes them (Go's ParseFloat and ParseInt syntax).</summary>
internal static class PrometheusValue
{
    private const NumberStyles FloatStyle = NumberStyles.AllowLeadingSign | NumberStyles.AllowDecimalPoint | NumberStyles.AllowExponent;

    // Exact powers of ten as doubles (10^22 is the largest one a double holds exactly).
    private static readonly double[] PowersOfTen =
    [
        1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22,
    ];

    /// <summary>
    /// A float: decimal or exponent notation, <c>NaN</c>, <c>+Inf</c>/<c>-Inf</c>/<c>Inf</c> (case-insensitive, also
    /// <c>Infinity</c>). Plain decimals of up to 15 significant digits (nearly every value vLLM writes: <c>0.0</c>,
    /// <c>1234.0</c>, <c>0.25</c>) take an exact fast path; the rest go to the runtime's parser.
    /// </summary>
    public static bool TryParse(ReadOnlySpan<byte> text, out double value)
    {
        if (TryParseSimpleDecimal(text, out value))
        {
            return true;
        }

        var body = text;
        var negative = false;
        if (!body.IsEmpty && (body[0] == (byte)'+' || body[0] == (byte)'-'))
        {
            negative = body[0] == (byte)'-';
            body = body[1..];
        }

        if (!body.IsEmpty && IsLetter(body[0]))
        {
            if (Ascii.EqualsIgnoreCase(body, "inf"u8) || Ascii.EqualsIgnoreCase(body, "infinity"u8))
            {
                value = negative ? double.NegativeInfinity : double.PositiveInfinity;
                return true;
            }

            if (Ascii.EqualsIgnoreCase(body, "nan"u8))
            {
                value = double.NaN;
                return true;
            }

            value = 0;
            return false;
        }

        return double.TryParse(text, FloatStyle, CultureInfo.InvariantCulture, out value);
    }

    /// <summary>An optional minus sign and decimal digits: milliseconds since the epoch.</summary>
    public static bool TryParseTimestamp(ReadOnlySpan<byte> text, out long value) =>
        long.TryParse(text, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out value);

    /// <summary>
    /// [sign] digits [. digits] with at most 15 significant digits and no exponent: the digits as an integer (exact
    /// below 2^53) divided by an exact power of ten is the correctly rounded result (Clinger's fast path).
    /// </summary>
    private static bool TryParseSimpleDecimal(ReadOnlySpan<byte> text, out double value)
    {
        value = 0;
        var i = 0;
        var negative = false;
        if (i < text.Length && (text[i] == (byte)'-' || text[i] == (byte)'+'))
        {
            negative = text[i] == (byte)'-';
            i++;
        }

        long mantissa = 0;
        var digits = 0;
        var fraction = 0;
        var seenDigit = false;
        var seenPoint = false;
        for (; i < text.Length; i++)
        {
            var c = text[i];
            var d = (uint)(c - '0');
            if (d <= 9)
            {
                seenDigit = true;
                if (mantissa != 0 || d != 0)
                {
                    if (++digits > 15)
                    {
                        return false;
                    }
                }

                mantissa = (mantissa * 10) + d;
                if (seenPoint)
                {
                    fraction++;
                }
            }
            else if (c == (byte)'.' && !seenPoint)
            {
                seenPoint = true;
            }
            else
            {
                return false;
            }
        }

        if (!seenDigit || fraction >= PowersOfTen.Length)
        {
            return false;
        }

        var result = fraction == 0 ? mantissa : mantissa / PowersOfTen[fraction];
        value = negative ? -result : result;
        return true;
    }

    private static bool IsLetter(byte c) => (uint)((c | 0x20) - 'a') <= 'z' - 'a';
}
