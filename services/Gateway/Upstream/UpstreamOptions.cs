using System.ComponentModel.DataAnnotations;

namespace Platform.Gateway.Upstream;

/// <summary>Timeouts of engine calls (section Gateway:Upstream). A stream has no total timeout, only these two.</summary>
internal sealed class UpstreamOptions
{
    public const string SectionName = "Gateway:Upstream";

    /// <summary>From sending the request to the first stream event (covers queueing and prefill).</summary>
    [Range(typeof(TimeSpan), "00:00:00.010", "01:00:00")]
    public TimeSpan FirstTokenTimeout { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>Longest silence between two stream events once the stream started.</summary>
    [Range(typeof(TimeSpan), "00:00:00.010", "01:00:00")]
    public TimeSpan IdleTimeout { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>Largest engine error body kept to relay to the client.</summary>
    [Range(256, 1048576)]
    public int MaxErrorBodyBytes { get; set; } = 65536;
}
