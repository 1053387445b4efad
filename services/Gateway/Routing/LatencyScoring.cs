namespace Platform.Gateway.Routing;

/// <summary>
/// Prices the candidates of one pool by observed latency. For each signal (TTFT, inter-token latency) the pool's
/// references are taken over the candidates with at least <c>minSamples</c>: the best and the lower median (of a
/// pair, the faster engine, so the slower of two can stand out). A candidate without enough samples is priced at
/// the median, so a new engine gets traffic. Per candidate and over the signals it has:
/// <list type="bullet">
/// <item>latency factor = the largest estimate / best: the multiplier of its expected wait against the pool's fastest
/// engine (≥ 1; exactly 1 when the engines are alike), which <see cref="EngineLoad"/> multiplies its load by;</item>
/// <item>median ratio = the largest estimate / median: above the outlier factor, the engine is a latency outlier.</item>
/// </list>
/// Latencies under <see cref="FloorSeconds"/> count as the floor: below a millisecond the gateway's own noise
/// (scheduling, GC) is as large as the differences, so engines that fast are alike. Allocation-free.
/// </summary>
internal static class LatencyScoring
{
    public const double FloorSeconds = 0.001;

    /// <param name="estimates">The candidates' estimates.</param>
    /// <param name="minSamples">Samples a signal needs before the engine's own estimate counts.</param>
    /// <param name="scratch">At least as long as <paramref name="estimates"/>.</param>
    /// <param name="factors">Out: the latency factor of each candidate.</param>
    /// <param name="medianRatios">Out: the ratio to the median of each candidate.</param>
    public static void Score(ReadOnlySpan<LatencyEstimate> estimates, int minSamples, Span<double> scratch, Span<double> factors, Span<double> medianRatios)
    {
        factors[..estimates.Length].Fill(1);
        medianRatios[..estimates.Length].Fill(1);
        Apply(estimates, minSamples, interToken: false, scratch, factors, medianRatios);
        Apply(estimates, minSamples, interToken: true, scratch, factors, medianRatios);
    }

    private static void Apply(ReadOnlySpan<LatencyEstimate> estimates, int minSamples, bool interToken, Span<double> scratch, Span<double> factors, Span<double> medianRatios)
    {
        var known = 0;
        foreach (var e in estimates)
        {
            if (Samples(e, interToken) >= minSamples)
            {
                scratch[known++] = Value(e, interToken);
            }
        }

        if (known == 0)
        {
            return;
        }

        var sorted = scratch[..known];
        sorted.Sort();
        var best = sorted[0];
        var median = sorted[(known - 1) / 2];
        for (var i = 0; i < estimates.Length; i++)
        {
            var value = Samples(estimates[i], interToken) >= minSamples ? Value(estimates[i], interToken)
                : interToken ? median : Math.Max(median, estimates[i].StallSeconds);
            factors[i] = Math.Max(factors[i], value / best);
            medianRatios[i] = Math.Max(medianRatios[i], value / median);
        }
    }

    private static long Samples(in LatencyEstimate e, bool interToken) => interToken ? e.ItlSamples : e.TtftSamples;

    /// <summary>The engine's own estimate of the signal; a stall raises its TTFT to at least the stall.</summary>
    private static double Value(in LatencyEstimate e, bool interToken) =>
        Math.Max(FloorSeconds, interToken ? e.ItlSeconds : Math.Max(e.TtftSeconds, e.StallSeconds));
}
