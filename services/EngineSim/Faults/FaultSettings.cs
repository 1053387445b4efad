using System.Text.Json.Serialization;

namespace Platform.EngineSim.Faults;

/// <summary>
/// Faults to inject, set at start by --sim-* flags and at run time by POST /admin/faults (the JSON body is
/// this record, camelCase; unknown fields are a 400). Every field's default means "no fault".
/// </summary>
internal sealed record FaultSettings
{
    /// <summary>Probability in [0, 1] that a generation request fails before any token with <see cref="ErrorStatus"/>.</summary>
    [JsonPropertyName("errorRate")]
    public double ErrorRate { get; init; }

    /// <summary>HTTP status of injected errors (400-599), default 500.</summary>
    [JsonPropertyName("errorStatus")]
    public int ErrorStatus { get; init; } = 500;

    /// <summary>Length of an injected stall of an engine step, milliseconds.</summary>
    [JsonPropertyName("latencySpikeMs")]
    public double LatencySpikeMs { get; init; }

    /// <summary>Probability in [0, 1] that an engine step stalls for <see cref="LatencySpikeMs"/>.</summary>
    [JsonPropertyName("latencySpikeRate")]
    public double LatencySpikeRate { get; init; }

    /// <summary>Multiplies every step time (1 = normal, 3 = three times slower); at least 1.</summary>
    [JsonPropertyName("slowdown")]
    public double Slowdown { get; init; } = 1.0;

    /// <summary>Requests are accepted and never answered (the engine makes no progress).</summary>
    [JsonPropertyName("hang")]
    public bool Hang { get; init; }

    /// <summary>When set, the process exits (code 137, as an OOM kill) once a stream has sent this many tokens.</summary>
    [JsonPropertyName("crashAfterTokens")]
    public int? CrashAfterTokens { get; init; }

    /// <summary>Usable KV blocks lost per second until restart (the "phantom OOM"); 0 = none.</summary>
    [JsonPropertyName("kvDrift")]
    public double KvDrift { get; init; }

    /// <summary>/health answers 200 even when the engine cannot serve.</summary>
    [JsonPropertyName("lieHealth")]
    public bool LieHealth { get; init; }
}

/// <summary>Holds the faults in force; reads are lock-free (a reference swap).</summary>
internal sealed class FaultController(FaultSettings initial)
{
    private FaultSettings _current = initial;
    private TaskCompletionSource _changed = new(TaskCreationOptions.RunContinuationsAsynchronously);

    public FaultSettings Current => Volatile.Read(ref _current);

    /// <summary>Completes at the next <see cref="Set"/>: waiters (hung requests) re-read <see cref="Current"/> then.</summary>
    public Task Changed => Volatile.Read(ref _changed).Task;

    public void Set(FaultSettings settings)
    {
        Volatile.Write(ref _current, settings);
        Interlocked.Exchange(ref _changed, new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously)).TrySetResult();
    }

    /// <summary>Returns once <see cref="FaultSettings.Hang"/> is off (at once when it is), or throws when cancelled.</summary>
    public async ValueTask WaitWhileHungAsync(CancellationToken cancellationToken)
    {
        while (true)
        {
            // Read the signal before the value so a Set between the two cannot be missed.
            var changed = Changed;
            if (!Current.Hang)
            {
                return;
            }

            await changed.WaitAsync(cancellationToken).ConfigureAwait(false);
        }
    }
}
