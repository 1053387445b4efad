namespace Platform.HealthScorer.Scoring;

/// <summary>Quantiles of a cumulative histogram, interpolated inside the bucket as Prometheus' histogram_quantile does.</summary>
internal static class HistogramQuantile
{
    /// <summary>
    /// The <paramref name="q"/> quantile of the observations counted by <paramref name="counts"/> (cumulative, one per
    /// upper bound in <paramref name="bounds"/>, the last +Inf). NaN with no observation or no +Inf bucket. A quantile
    /// that falls in the +Inf bucket is the highest finite bound; the lowest bucket's lower edge is 0.
    /// </summary>
    public static double Compute(double q, ReadOnlySpan<double> bounds, ReadOnlySpan<double> counts)
    {
        var n = bounds.Length;
        if (n == 0 || !double.IsPositiveInfinity(bounds[n - 1]) || counts.Length != n)
        {
            return double.NaN;
        }

        var total = counts[n - 1];
        if (!(total > 0))
        {
            return double.NaN;
        }

        var rank = q * total;
        var i = 0;
        while (i < n - 1 && counts[i] < rank)
        {
            i++;
        }

        if (i == n - 1)
        {
            return n >= 2 ? bounds[n - 2] : double.NaN;
        }

        var upper = bounds[i];
        var lower = i == 0 ? Math.Min(0, upper) : bounds[i - 1];
        var below = i == 0 ? 0 : counts[i - 1];
        var inBucket = counts[i] - below;
        return inBucket <= 0 ? upper : lower + ((upper - lower) * (rank - below) / inBucket);
    }
}
