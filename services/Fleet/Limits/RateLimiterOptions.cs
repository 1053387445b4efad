using System.ComponentModel.DataAnnotations;

namespace Platform.Fleet.Limits;

/// <summary>The shared rate limiter (section <c>Fleet:RateLimits</c>).</summary>
public sealed class RateLimiterOptions
{
    public const string SectionName = "Fleet:RateLimits";

    /// <summary>Prefix of the counter keys (<c>{KeyPrefix}ratelimit:{key}:{r|t}:{minute}</c>).</summary>
    [Required]
    public string KeyPrefix { get; set; } = "platform:";

    /// <summary>The longest a request waits on Redis (wall clock) before the replica decides on its own counts.</summary>
    [Range(typeof(TimeSpan), "00:00:00.010", "00:00:05")]
    public TimeSpan RedisTimeout { get; set; } = TimeSpan.FromMilliseconds(250);

    /// <summary>After a Redis error or timeout, how long decisions stay local before Redis is tried again.</summary>
    [Range(typeof(TimeSpan), "00:00:00", "00:01:00")]
    public TimeSpan RedisRetryDelay { get; set; } = TimeSpan.FromSeconds(1);
}
