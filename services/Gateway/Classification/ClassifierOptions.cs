using System.ComponentModel.DataAnnotations;

namespace Platform.Gateway.Classification;

/// <summary>The call to the Classifier service (section Gateway:Classifier).</summary>
internal sealed class ClassifierOptions
{
    public const string SectionName = "Gateway:Classifier";

    /// <summary>The Classifier's gRPC address; empty: configuration services:classifier:grpc:0; absent: every request is general.</summary>
    public string? Address { get; set; }

    /// <summary>Deadline of one Classify call; past it the request is general.</summary>
    [Range(typeof(TimeSpan), "00:00:00.001", "00:00:05")]
    public TimeSpan Timeout { get; set; } = TimeSpan.FromMilliseconds(50);

    /// <summary>After a failed call, requests skip the classifier (as general) for this long, so an outage costs no latency.</summary>
    [Range(typeof(TimeSpan), "00:00:00", "00:10:00")]
    public TimeSpan SkipAfterFailure { get; set; } = TimeSpan.FromSeconds(5);

    /// <summary>
    /// Longest wait between the channel's reconnection attempts while the classifier is unreachable. gRPC's default
    /// (120 s, growing by 1.6x from 1 s) kept every request routed as general for up to two minutes after a classifier
    /// that had been down for a minute came back.
    /// </summary>
    [Range(typeof(TimeSpan), "00:00:00.100", "00:02:00")]
    public TimeSpan MaxReconnectBackoff { get; set; } = TimeSpan.FromSeconds(2);

    /// <summary>
    /// <c>code</c> or <c>general</c>: the classifier is not called and every request without a kind hint is routed as
    /// this kind (an experiment, e.g. misrouting code prompts to the general pool to watch speculative acceptance
    /// fall, or a stop-gap while the classifier misbehaves). <c>none</c> (default): the classifier decides.
    /// </summary>
    [EnumDataType(typeof(ForcedKind))]
    public ForcedKind ForceKind { get; set; } = ForcedKind.None;
}

/// <summary>What <see cref="ClassifierOptions.ForceKind"/> routes every unhinted request as.</summary>
internal enum ForcedKind
{
    /// <summary>The classifier decides.</summary>
    None,

    Code,

    General,
}
