using Platform.Fleet.State;

namespace Platform.Gateway.Health;

/// <summary>Pressure with hysteresis: opens above the open threshold, closes only below the close threshold.</summary>
internal static class PressureHysteresis
{
    public static PressureState Next(PressureState current, double kvCacheUsage, double openThreshold, double closeThreshold)
    {
        if (double.IsNaN(kvCacheUsage))
        {
            return current;
        }

        return current switch
        {
            PressureState.Normal when kvCacheUsage > openThreshold => PressureState.UnderPressure,
            PressureState.UnderPressure when kvCacheUsage < closeThreshold => PressureState.Normal,
            _ => current,
        };
    }

    /// <summary>0 (unusable) to 100 (idle): free KV cache, discounted by the queue.</summary>
    public static double Score(double kvCacheUsage, double waiting)
    {
        var free = double.IsNaN(kvCacheUsage) ? 1.0 : Math.Clamp(1.0 - kvCacheUsage, 0.0, 1.0);
        return 100.0 * free / (1.0 + Math.Max(0.0, waiting));
    }
}
