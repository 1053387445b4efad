using System.Diagnostics.Metrics;

namespace Platform.Classifier.Telemetry;

/// <summary>
/// The classifier's meter, <c>Platform.Classifier</c>: decisions by kind and the time each classification took
/// inside the service (Prometheus: <c>platform_classifier_decisions_total{kind}</c>,
/// <c>platform_classifier_duration_seconds</c>).
/// </summary>
internal sealed class ClassifierMetrics
{
    public const string MeterName = "Platform.Classifier";

    // Classification takes microseconds: buckets from 2 µs to 5 ms.
    private static readonly double[] DurationBuckets = [2e-6, 5e-6, 1e-5, 2e-5, 5e-5, 1e-4, 2e-4, 5e-4, 1e-3, 5e-3];

    private readonly Counter<long> _decisions;
    private readonly Histogram<double> _duration;

    public ClassifierMetrics(IMeterFactory meterFactory)
    {
        var meter = meterFactory.Create(MeterName);
        _decisions = meter.CreateCounter<long>(
            "platform.classifier.decisions", "{decision}", "Prompts classified, by the kind decided (code or general).");
        _duration = meter.CreateHistogram(
            "platform.classifier.duration", "s", "Time to classify one prompt inside the service (feature extraction and scoring).",
            advice: new InstrumentAdvice<double> { HistogramBucketBoundaries = DurationBuckets });
    }

    public void Decided(bool isCode, double seconds)
    {
        _decisions.Add(1, new KeyValuePair<string, object?>("kind", isCode ? "code" : "general"));
        _duration.Record(seconds);
    }
}
