namespace Platform.HealthScorer.Scraping;

/// <summary>
/// Cumulative bucket counts of one histogram, keyed by upper bound (<c>le</c>), summed over every series of the
/// family (data-parallel <c>engine</c> labels). Arrays are kept between scrapes, so steady state allocates nothing.
/// </summary>
internal sealed class HistogramCounts
{
    /// <summary>More distinct bounds than any real histogram has; beyond it bucket lines are refused.</summary>
    public const int MaxBuckets = 512;

    private double[] _bounds = new double[32];
    private double[] _counts = new double[32];
    private int _cursor;

    public int Length { get; private set; }

    public ReadOnlySpan<double> Bounds => _bounds.AsSpan(0, Length);

    public ReadOnlySpan<double> Counts => _counts.AsSpan(0, Length);

    /// <summary>Observations in total: the +Inf bucket; NaN when the family had no +Inf bucket.</summary>
    public double Total => Length > 0 && double.IsPositiveInfinity(_bounds[Length - 1]) ? _counts[Length - 1] : double.NaN;

    public void Clear()
    {
        Length = 0;
        _cursor = 0;
    }

    /// <summary>Adds a bucket line's count to the bucket with upper bound <paramref name="le"/>; false past <see cref="MaxBuckets"/>.</summary>
    public bool Add(double le, double count)
    {
        var i = IndexOf(le);
        if (i < 0)
        {
            return false;
        }

        _counts[i] += count;
        _cursor = i + 1;
        return true;
    }

    public void CopyFrom(HistogramCounts other)
    {
        EnsureCapacity(other.Length);
        other.Bounds.CopyTo(_bounds);
        other.Counts.CopyTo(_counts);
        Length = other.Length;
        _cursor = 0;
    }

    /// <summary>Same bucket bounds in the same order (a restart with another configuration changes them).</summary>
    public bool SameLayout(HistogramCounts other) => Bounds.SequenceEqual(other.Bounds);

    private int IndexOf(double le)
    {
        // Series of a family list their buckets in the same ascending order: the next expected bound is checked first.
        if (_cursor < Length && _bounds[_cursor] == le)
        {
            return _cursor;
        }

        if (Length == 0 || le > _bounds[Length - 1])
        {
            return Insert(Length, le);
        }

        var found = Array.BinarySearch(_bounds, 0, Length, le);
        return found >= 0 ? found : Insert(~found, le);
    }

    private int Insert(int index, double le)
    {
        if (Length >= MaxBuckets)
        {
            return -1;
        }

        EnsureCapacity(Length + 1);
        Array.Copy(_bounds, index, _bounds, index + 1, Length - index);
        Array.Copy(_counts, index, _counts, index + 1, Length - index);
        _bounds[index] = le;
        _counts[index] = 0;
        Length++;
        return index;
    }

    private void EnsureCapacity(int length)
    {
        if (length > _bounds.Length)
        {
            var size = Math.Max(length, _bounds.Length * 2);
            Array.Resize(ref _bounds, size);
            Array.Resize(ref _counts, size);
        }
    }
}
