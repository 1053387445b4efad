using System.ComponentModel.DataAnnotations;

namespace Platform.Gateway.Api;

/// <summary>Limits of the HTTP front end (section <c>Gateway:Http</c>), so hostile or slow clients cost little.</summary>
internal sealed class GatewayHttpOptions
{
    public const string SectionName = "Gateway:Http";

    /// <summary>Largest request body accepted; larger: 413. Default 1 MiB.</summary>
    [Range(1024, 64 * 1024 * 1024)]
    public int MaxRequestBodyBytes { get; set; } = 1024 * 1024;

    /// <summary>All request headers must arrive within this time (slowloris), seconds.</summary>
    [Range(0.1, 300)]
    public double RequestHeadersTimeoutSeconds { get; set; } = 10;

    /// <summary>A request body slower than this (bytes/s) after the grace period is cut off.</summary>
    [Range(1, 1024 * 1024)]
    public double MinRequestBodyBytesPerSecond { get; set; } = 240;

    /// <summary>Grace period before the minimum body rate is enforced, seconds (Kestrel requires more than 1).</summary>
    [Range(1.001, 300)]
    public double MinRequestBodyGraceSeconds { get; set; } = 5;

    /// <summary>Total size of request headers; larger: 431.</summary>
    [Range(1024, 1024 * 1024)]
    public int MaxRequestHeadersTotalBytes { get; set; } = 32 * 1024;

    /// <summary>Number of request headers; more: 431.</summary>
    [Range(4, 1000)]
    public int MaxRequestHeaderCount { get; set; } = 64;
}
