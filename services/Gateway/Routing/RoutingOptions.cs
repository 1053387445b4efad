using System.ComponentModel.DataAnnotations;

namespace Platform.Gateway.Routing;

/// <summary>Engine selection (section Gateway:Routing).</summary>
internal sealed class RoutingOptions
{
    public const string SectionName = "Gateway:Routing";

    /// <summary>"power-of-two-choices" (default), "least-loaded" or "round-robin" (the benchmark baseline).</summary>
    [Required]
    public string Policy { get; set; } = PowerOfTwoChoicesPolicy.PolicyName;

    /// <summary>Send requests with the same leading prompt to the same engine (its prefix cache), within the load bound.</summary>
    public bool PrefixAffinity { get; set; } = true;

    /// <summary>How many leading characters of the system prompt and of the first user message (or the prompt) are hashed.</summary>
    [Range(16, 65536)]
    public int PrefixChars { get; set; } = 256;

    /// <summary>The affine engine is skipped when its load exceeds the least loaded engine's times this factor plus the slack.</summary>
    [Range(1.0, 100.0)]
    public double BoundedLoadFactor { get; set; } = 1.5;

    /// <summary>Absolute slack of the load bound, in requests.</summary>
    [Range(0, 10000)]
    public int BoundedLoadSlack { get; set; } = 4;

    /// <summary>Seed of the policies' random draws (tests, benchmarks); null: unseeded.</summary>
    public int? Seed { get; set; }

    /// <summary>
    /// Weigh each engine's observed latency (time to first token, inter-token latency) in its cost, and keep latency
    /// outliers out of the rotation but for probes. Off: cost is load alone, as before.
    /// </summary>
    public bool LatencyAware { get; set; } = true;

    /// <summary>Half-life of the time-decayed latency averages: a sample this old weighs half as much as a new one.</summary>
    [Range(typeof(TimeSpan), "00:00:00.100", "01:00:00")]
    public TimeSpan LatencyHalfLife { get; set; } = TimeSpan.FromSeconds(5);

    /// <summary>Samples an engine needs before its own estimate counts; until then it is priced at the pool's median.</summary>
    [Range(1, 100000)]
    public int LatencyMinSamples { get; set; } = 10;

    /// <summary>An engine whose latency estimate exceeds this factor times the pool's median is a latency outlier.</summary>
    [Range(1.1, 100.0)]
    public double OutlierLatencyFactor { get; set; } = 2.5;

    /// <summary>
    /// A latency outlier gets at most one request (a probe, real traffic) per interval while other engines can serve,
    /// and no more than one in <see cref="OutlierProbeRequests"/>.
    /// </summary>
    [Range(typeof(TimeSpan), "00:00:00.010", "00:10:00")]
    public TimeSpan OutlierProbeInterval { get; set; } = TimeSpan.FromSeconds(5);

    /// <summary>
    /// Requests routed past a latency outlier before it gets a probe. Each probe is a slow answer for someone: one in
    /// 200 (0.5%) keeps an ejected engine out of the pool's p99 whatever the traffic.
    /// </summary>
    [Range(1, 1000000)]
    public int OutlierProbeRequests { get; set; } = 200;

    /// <summary>
    /// An engine that has requests from this gateway waiting for their first token, and has sent no first token for
    /// this long, is priced as if its time to first token were at least that wait (a stall): a hung engine is then
    /// passed over, ejected as an outlier, within seconds instead of after its requests time out. Shorter waits are
    /// ignored: a burst's prefill or a long prompt can hold back first tokens that long on a healthy engine.
    /// </summary>
    [Range(typeof(TimeSpan), "00:00:00.050", "00:10:00")]
    public TimeSpan StallAfter { get; set; } = TimeSpan.FromSeconds(1);
}

/// <summary>The policy must be one of the registered names.</summary>
/// <remarks>The policies are resolved when validating, not when constructing: a policy may depend on these options.</remarks>
internal sealed class RoutingOptionsValidator(IServiceProvider services) : Microsoft.Extensions.Options.IValidateOptions<RoutingOptions>
{
    public Microsoft.Extensions.Options.ValidateOptionsResult Validate(string? name, RoutingOptions options)
    {
        var names = ((IEnumerable<IEngineSelectionPolicy>?)services.GetService(typeof(IEnumerable<IEngineSelectionPolicy>)) ?? []).Select(p => p.Name).ToArray();
        return names.Contains(options.Policy, StringComparer.OrdinalIgnoreCase)
            ? Microsoft.Extensions.Options.ValidateOptionsResult.Success
            : Microsoft.Extensions.Options.ValidateOptionsResult.Fail(
                $"{RoutingOptions.SectionName}:Policy '{options.Policy}' is unknown; use one of: {string.Join(", ", names)}.");
    }
}
