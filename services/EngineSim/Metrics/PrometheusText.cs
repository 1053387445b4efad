using System.Globalization;
using System.Text;

namespace Platform.EngineSim.Metrics;

/// <summary>
/// The Prometheus text exposition format (0.0.4) exactly as Python's prometheus_client renders it, because
/// that is what vLLM serves: labels sorted by name, values through prometheus_client's floatToGoString
/// (Python's repr, switching to Go's exponent form from 1e7 on), counters as <c>name_total</c> with their
/// <c>_created</c> samples in a separate gauge family after them, histograms as buckets, <c>_count</c>,
/// <c>_sum</c> and again a separate <c>_created</c> gauge family.
/// </summary>
internal static class PrometheusText
{
    public const string ContentType = "text/plain; version=0.0.4; charset=utf-8";

    /// <summary>Renders a label set: sorted by name, values escaped. Empty for no labels.</summary>
    public static string Labels(params ReadOnlySpan<(string Name, string Value)> labels)
    {
        var sorted = labels.ToArray();
        Array.Sort(sorted, static (a, b) => string.CompareOrdinal(a.Name, b.Name));
        var sb = new StringBuilder();
        foreach (var (name, value) in sorted)
        {
            if (sb.Length > 0)
            {
                sb.Append(',');
            }

            sb.Append(name).Append("=\"");
            AppendEscapedLabelValue(sb, value);
            sb.Append('"');
        }

        return sb.ToString();
    }

    public static void AppendEscapedLabelValue(StringBuilder sb, string value)
    {
        foreach (var c in value)
        {
            switch (c)
            {
                case '\\': sb.Append(@"\\"); break;
                case '"': sb.Append("\\\""); break;
                case '\n': sb.Append(@"\n"); break;
                default: sb.Append(c); break;
            }
        }
    }

    /// <summary>HELP text escaping: backslash and newline.</summary>
    public static string EscapeHelp(string help) => help.Replace(@"\", @"\\", StringComparison.Ordinal).Replace("\n", @"\n", StringComparison.Ordinal);

    /// <summary>A sample line: <c>name{labels} value\n</c>.</summary>
    public static void AppendSample(StringBuilder sb, string name, string labels, double value)
    {
        sb.Append(name);
        if (labels.Length > 0)
        {
            sb.Append('{').Append(labels).Append('}');
        }

        sb.Append(' ');
        AppendValue(sb, value);
        sb.Append('\n');
    }

    public static void AppendHeader(StringBuilder sb, string name, string escapedHelp, string type)
    {
        sb.Append("# HELP ").Append(name).Append(' ').Append(escapedHelp).Append('\n');
        sb.Append("# TYPE ").Append(name).Append(' ').Append(type).Append('\n');
    }

    /// <summary>prometheus_client's floatToGoString.</summary>
    public static void AppendValue(StringBuilder sb, double value)
    {
        if (double.IsPositiveInfinity(value))
        {
            sb.Append("+Inf");
            return;
        }

        if (double.IsNegativeInfinity(value))
        {
            sb.Append("-Inf");
            return;
        }

        if (double.IsNaN(value))
        {
            sb.Append("NaN");
            return;
        }

        // Fast path: small integers (almost every counter and count) are "N.0" in Python's repr.
        if (value == Math.Floor(value) && Math.Abs(value) < 1_000_000)
        {
            if (value == 0 && double.IsNegative(value))
            {
                sb.Append("-0.0");
                return;
            }

            sb.Append((long)value).Append(".0");
            return;
        }

        Span<char> repr = stackalloc char[40];
        var length = PythonRepr(value, repr);
        repr = repr[..length];
        var dot = repr.IndexOf('.');
        if (value > 0 && dot > 6)
        {
            // mantissa = s[0] + "." + s[1:dot] + s[dot+1:], stripped of trailing '0' and '.'
            Span<char> mantissa = stackalloc char[40];
            var m = 0;
            mantissa[m++] = repr[0];
            mantissa[m++] = '.';
            repr[1..dot].CopyTo(mantissa[m..]);
            m += dot - 1;
            repr[(dot + 1)..].CopyTo(mantissa[m..]);
            m += repr.Length - dot - 1;
            while (m > 0 && (mantissa[m - 1] is '0' or '.'))
            {
                m--;
            }

            sb.Append(mantissa[..m]).Append("e+0").Append(dot - 1);
            return;
        }

        sb.Append(repr);
    }

    /// <summary>Renders <paramref name="value"/> as Python's repr(float) does; returns the length written.</summary>
    public static int PythonRepr(double value, Span<char> destination)
    {
        if (value == 0)
        {
            var zero = double.IsNegative(value) ? "-0.0" : "0.0";
            zero.CopyTo(destination);
            return zero.Length;
        }

        // .NET's round-trip format gives the shortest digits that round-trip, as Python's repr does; only the
        // layout differs. Extract the digits and the decimal exponent, then lay them out Python's way.
        Span<char> shortest = stackalloc char[40];
        value.TryFormat(shortest, out var written, "R", CultureInfo.InvariantCulture);
        shortest = shortest[..written];

        Span<char> digits = stackalloc char[32];
        var digitCount = 0;
        var negative = false;
        var pointIndex = -1;
        var exponent = 0;
        for (var i = 0; i < shortest.Length; i++)
        {
            var c = shortest[i];
            if (c == '-')
            {
                negative = true;
            }
            else if (c == '.')
            {
                pointIndex = digitCount;
            }
            else if (c is 'E' or 'e')
            {
                exponent = int.Parse(shortest[(i + 1)..], NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture);
                break;
            }
            else
            {
                digits[digitCount++] = c;
            }
        }

        // decpt: digits d1..dn mean 0.d1..dn * 10^decpt.
        var decpt = (pointIndex < 0 ? digitCount : pointIndex) + exponent;
        var lead = 0;
        while (lead < digitCount - 1 && digits[lead] == '0')
        {
            lead++;
            decpt--;
        }

        var d = digits[lead..digitCount];
        var n = d.Length;
        while (n > 1 && d[n - 1] == '0')
        {
            n--;
        }

        d = d[..n];
        var w = 0;
        if (negative)
        {
            destination[w++] = '-';
        }

        if (decpt <= -4 || decpt > 16)
        {
            destination[w++] = d[0];
            if (n > 1)
            {
                destination[w++] = '.';
                d[1..].CopyTo(destination[w..]);
                w += n - 1;
            }

            var e = decpt - 1;
            destination[w++] = 'e';
            destination[w++] = e < 0 ? '-' : '+';
            e = Math.Abs(e);
            if (e < 10)
            {
                destination[w++] = '0';
            }

            e.TryFormat(destination[w..], out var ew, default, CultureInfo.InvariantCulture);
            return w + ew;
        }

        if (decpt <= 0)
        {
            destination[w++] = '0';
            destination[w++] = '.';
            for (var i = 0; i < -decpt; i++)
            {
                destination[w++] = '0';
            }

            d.CopyTo(destination[w..]);
            return w + n;
        }

        if (decpt < n)
        {
            d[..decpt].CopyTo(destination[w..]);
            w += decpt;
            destination[w++] = '.';
            d[decpt..].CopyTo(destination[w..]);
            return w + (n - decpt);
        }

        d.CopyTo(destination[w..]);
        w += n;
        for (var i = n; i < decpt; i++)
        {
            destination[w++] = '0';
        }

        destination[w++] = '.';
        destination[w++] = '0';
        return w;
    }
}

/// <summary>One metric family (a name, a help text, its samples); rendered under the registry's lock.</summary>
internal abstract class MetricFamily(string name, string help)
{
    public string Name { get; } = name;

    public string EscapedHelp { get; } = PrometheusText.EscapeHelp(help);

    public abstract void Render(StringBuilder sb);
}

/// <summary>A gauge family with fixed label sets (children are created up front, as vLLM does).</summary>
internal sealed class GaugeFamily(string name, string help) : MetricFamily(name, help)
{
    private readonly List<Gauge> _children = [];

    public Gauge Child(string labels)
    {
        var gauge = new Gauge(labels);
        _children.Add(gauge);
        return gauge;
    }

    public override void Render(StringBuilder sb)
    {
        PrometheusText.AppendHeader(sb, Name, EscapedHelp, "gauge");
        foreach (var child in _children)
        {
            PrometheusText.AppendSample(sb, Name, child.Labels, child.Value);
        }
    }
}

internal sealed class Gauge(string labels)
{
    public string Labels { get; } = labels;

    public double Value { get; set; }
}

/// <summary>A counter family: <c>name_total</c> samples, then the <c>name_created</c> gauge family.</summary>
internal sealed class CounterFamily(string name, string help, double created) : MetricFamily(name, help)
{
    private readonly List<Counter> _children = [];
    private readonly string _total = name + "_total";
    private readonly string _created = name + "_created";

    public Counter Child(string labels)
    {
        var counter = new Counter(labels, created);
        _children.Add(counter);
        return counter;
    }

    public override void Render(StringBuilder sb)
    {
        PrometheusText.AppendHeader(sb, _total, EscapedHelp, "counter");
        foreach (var child in _children)
        {
            PrometheusText.AppendSample(sb, _total, child.Labels, child.Value);
        }

        PrometheusText.AppendHeader(sb, _created, EscapedHelp, "gauge");
        foreach (var child in _children)
        {
            PrometheusText.AppendSample(sb, _created, child.Labels, child.Created);
        }
    }
}

internal sealed class Counter(string labels, double created)
{
    public string Labels { get; } = labels;

    public double Created { get; } = created;

    public double Value { get; private set; }

    public void Inc(double amount = 1)
    {
        if (amount < 0)
        {
            throw new ArgumentOutOfRangeException(nameof(amount), amount, "Counters only go up.");
        }

        Value += amount;
    }
}

/// <summary>A histogram family with fixed buckets (<c>+Inf</c> appended), rendered as prometheus_client does.</summary>
internal sealed class HistogramFamily : MetricFamily
{
    private readonly List<Histogram> _children = [];
    private readonly double[] _bounds;
    private readonly string _bucket;
    private readonly string _count;
    private readonly string _sum;
    private readonly string _createdName;
    private readonly double _created;

    public HistogramFamily(string name, string help, IReadOnlyList<double> buckets, double created)
        : base(name, help)
    {
        _bounds = [.. buckets, double.PositiveInfinity];
        _bucket = name + "_bucket";
        _count = name + "_count";
        _sum = name + "_sum";
        _createdName = name + "_created";
        _created = created;
    }

    public IReadOnlyList<double> Bounds => _bounds;

    /// <summary>Adds a child; <paramref name="labels"/> are the (name, value) pairs without <c>le</c>.</summary>
    public Histogram Child(params ReadOnlySpan<(string Name, string Value)> labels)
    {
        var leLabels = new string[_bounds.Length];
        var withLe = new (string Name, string Value)[labels.Length + 1];
        labels.CopyTo(withLe);
        var sb = new StringBuilder();
        for (var i = 0; i < _bounds.Length; i++)
        {
            sb.Clear();
            PrometheusText.AppendValue(sb, _bounds[i]);
            withLe[^1] = ("le", sb.ToString());
            leLabels[i] = PrometheusText.Labels(withLe);
        }

        var histogram = new Histogram(_bounds, PrometheusText.Labels(labels), leLabels, _created);
        _children.Add(histogram);
        return histogram;
    }

    public override void Render(StringBuilder sb)
    {
        PrometheusText.AppendHeader(sb, Name, EscapedHelp, "histogram");
        foreach (var child in _children)
        {
            long cumulative = 0;
            for (var i = 0; i < _bounds.Length; i++)
            {
                cumulative += child.BucketCounts[i];
                PrometheusText.AppendSample(sb, _bucket, child.LeLabels[i], cumulative);
            }

            PrometheusText.AppendSample(sb, _count, child.Labels, cumulative);
            PrometheusText.AppendSample(sb, _sum, child.Labels, child.Sum);
        }

        PrometheusText.AppendHeader(sb, _createdName, EscapedHelp, "gauge");
        foreach (var child in _children)
        {
            PrometheusText.AppendSample(sb, _createdName, child.Labels, child.Created);
        }
    }
}

internal sealed class Histogram(double[] bounds, string labels, string[] leLabels, double created)
{
    private readonly long[] _buckets = new long[bounds.Length];

    public string Labels { get; } = labels;

    public string[] LeLabels { get; } = leLabels;

    public double Created { get; } = created;

    public ReadOnlySpan<long> BucketCounts => _buckets;

    public long Count { get; private set; }

    public double Sum { get; private set; }

    public void Observe(double value)
    {
        // Upper bounds are inclusive (le); the last bound is +Inf, so a slot is always found.
        var i = 0;
        while (value > bounds[i])
        {
            i++;
        }

        _buckets[i]++;
        Count++;
        Sum += value;
    }
}
