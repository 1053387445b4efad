namespace Platform.Watchdog.Detection;

/// <summary>
/// A named degradation policy: looks at an engine's recent history and says whether it is degraded for real, and
/// why, with the figures that decided it. Stateless; registered with TryAddEnumerable so one can be replaced or added.
/// </summary>
internal interface IDegradationDetector
{
    /// <summary>Short stable name, used in events, metrics and configuration (<c>Watchdog:Detectors:{Name}</c>).</summary>
    string Name { get; }

    /// <summary>False when the detector is turned off by configuration.</summary>
    bool Enabled { get; }

    /// <summary>The longest stretch of history the detector reads.</summary>
    TimeSpan Window { get; }

    /// <summary>A degradation, or null when the engine is fine as far as this policy can tell.</summary>
    Detection? Evaluate(EngineHistory history, DateTimeOffset now);
}

/// <summary>
/// What a detector found. <see cref="NeedsDeepProbe"/>: the evidence is indirect (the HealthScorer's stall flag) and
/// a 1-token generation with a timeout must confirm it before anything is done.
/// </summary>
internal sealed record Detection(string Detector, string Reason, bool NeedsDeepProbe = false);
