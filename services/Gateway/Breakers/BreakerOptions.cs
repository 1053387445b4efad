using System.ComponentModel.DataAnnotations;

namespace Platform.Gateway.Breakers;

/// <summary>Half-open probing (section Gateway:Breakers). Thresholds and cool-downs belong to the fleet state.</summary>
internal sealed class BreakerOptions
{
    public const string SectionName = "Gateway:Breakers";

    /// <summary>How often half-open breakers are looked for.</summary>
    [Range(typeof(TimeSpan), "00:00:00.010", "00:10:00")]
    public TimeSpan ProbeInterval { get; set; } = TimeSpan.FromSeconds(1);

    /// <summary>Timeout of one probe (a real 1-token generation).</summary>
    [Range(typeof(TimeSpan), "00:00:00.010", "00:05:00")]
    public TimeSpan ProbeTimeout { get; set; } = TimeSpan.FromSeconds(5);
}
