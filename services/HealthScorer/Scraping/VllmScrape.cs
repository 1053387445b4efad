using Platform.HealthScorer.Prometheus;

namespace Platform.HealthScorer.Scraping;

/// <summary>
/// The vLLM series of one /metrics body, every data-parallel rank combined (<see cref="Aggregation"/>), with what the
/// body was like: invalid lines (skipped, the rest still read), a cut last line. One instance per engine is reused
/// for every scrape, so reading allocates nothing once its histogram arrays have grown.
/// </summary>
internal sealed class VllmScrape
{
    private readonly double[] _values = new double[VllmSeriesInfo.Count];
    private readonly HistogramCounts[] _histograms =
    [
        new HistogramCounts(), new HistogramCounts(), new HistogramCounts(),
    ];

    private uint _present;

    public VllmScrape() => Clear();

    /// <summary>Sample lines in the body (every family, vLLM's or not).</summary>
    public int Samples { get; private set; }

    /// <summary>Lines that are not valid exposition format (skipped).</summary>
    public int InvalidLines { get; private set; }

    /// <summary>The first invalid line, 1-based (0: none).</summary>
    public int FirstInvalidLine { get; private set; }

    public LineError FirstInvalidError { get; private set; }

    /// <summary>The body ended in the middle of a line: it was cut, and nothing read from it can be trusted.</summary>
    public bool Truncated { get; private set; }

    /// <summary>One bit per <see cref="VllmSeries"/> that had a value.</summary>
    public uint PresentMask => _present;

    /// <summary>Every series' combined value, by <see cref="VllmSeries"/> (0 for an absent one: check <see cref="Has"/>).</summary>
    public ReadOnlySpan<double> Values => _values;

    /// <summary>True when at least one sample of the series had a value (NaN samples do not count).</summary>
    public bool Has(VllmSeries series) => (_present & (1u << (int)series)) != 0;

    /// <summary>The combined value; NaN when the series is absent (never a silent zero).</summary>
    public double Value(VllmSeries series) => Has(series) ? _values[(int)series] : double.NaN;

    /// <summary>TimeToFirstToken, InterTokenLatency or TimePerOutputToken.</summary>
    public HistogramCounts Histogram(VllmSeries series) => _histograms[HistogramIndex(series)];

    public void Clear()
    {
        Array.Clear(_values);
        foreach (var h in _histograms)
        {
            h.Clear();
        }

        _present = 0;
        Samples = 0;
        InvalidLines = 0;
        FirstInvalidLine = 0;
        FirstInvalidError = LineError.None;
        Truncated = false;
    }

    /// <summary>Reads a whole body (replacing what was read before). Never throws on bad input.</summary>
    public void Read(ReadOnlySpan<byte> body, int maxLineBytes = PrometheusTextReader.DefaultMaxLineBytes)
    {
        Clear();
        var reader = new PrometheusTextReader(body, maxLineBytes);
        ReadOnlySpan<byte> lastName = default;
        VllmSeries? lastSeries = null;
        while (reader.Read(out var line))
        {
            if (line.Kind == LineKind.Sample)
            {
                Samples++;

                // Families are contiguous, so most lines repeat the previous name (bucket after bucket).
                if (!line.Name.SequenceEqual(lastName))
                {
                    lastName = line.Name;
                    lastSeries = VllmSeriesInfo.Identify(line.Name);
                }

                if (lastSeries is { } series && !Apply(series, line))
                {
                    Invalid(line.Number, LineError.InvalidLabels);
                }
            }
            else if (line.Kind == LineKind.Invalid)
            {
                if (line.Error == LineError.Truncated)
                {
                    Truncated = true;
                }
                else
                {
                    Invalid(line.Number, line.Error);
                }
            }
        }
    }

    private void Invalid(int number, LineError error)
    {
        if (InvalidLines++ == 0)
        {
            FirstInvalidLine = number;
            FirstInvalidError = error;
        }
    }

    /// <summary>False for a bucket line without a usable <c>le</c> label.</summary>
    private bool Apply(VllmSeries series, in PrometheusLine line)
    {
        var value = line.Value;
        if (double.IsNaN(value))
        {
            return true;
        }

        var index = (int)series;
        var bit = 1u << index;
        switch (VllmSeriesInfo.AggregationOf(series))
        {
            case Aggregation.Sum:
                _values[index] += value;
                break;
            case Aggregation.Max:
                _values[index] = (_present & bit) == 0 ? value : Math.Max(_values[index], value);
                break;
            default:
                if (!line.Labels.TryGetValue("le"u8, out var le) || le.HasEscapes
                    || !PrometheusValue.TryParse(le.Escaped, out var bound) || double.IsNaN(bound)
                    || !_histograms[HistogramIndex(series)].Add(bound, value))
                {
                    return false;
                }

                break;
        }

        _present |= bit;
        return true;
    }

    private static int HistogramIndex(VllmSeries series) => series switch
    {
        VllmSeries.TimeToFirstToken => 0,
        VllmSeries.InterTokenLatency => 1,
        VllmSeries.TimePerOutputToken => 2,
        _ => throw new ArgumentOutOfRangeException(nameof(series), series, "not a histogram"),
    };
}
