using System.Globalization;

namespace Platform.Fleet.State;

/// <summary>
/// A breaker exactly as stored in its Redis hash (times in Unix milliseconds, counts of the two fixed window buckets).
/// The same twelve values, in <see cref="FieldNames"/> order, are returned by the Lua scripts and carried by pub/sub messages.
/// </summary>
internal sealed record BreakerRecord(
    string State,
    long Version,
    long ConsecutiveFailures,
    long WindowStart,
    long WindowFailures,
    long WindowAttempts,
    long PreviousFailures,
    long PreviousAttempts,
    long OpenedAt,
    long RetryAt,
    long CoolDown,
    string Reason)
{
    public const string ClosedState = "closed";
    public const string OpenState = "open";
    public const string HalfOpenState = "half_open";
    public const int FieldCount = 12;

    public static readonly string[] FieldNames = ["state", "ver", "cf", "ws", "wf", "wa", "pf", "pa", "opened", "retry", "cool", "reason"];

    public static readonly BreakerRecord Initial = new(ClosedState, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, string.Empty);

    public bool IsClosed => State == ClosedState;

    public BreakerSnapshot ToSnapshot(string engineId, long nowMs)
    {
        var state = State switch
        {
            OpenState when nowMs >= RetryAt => BreakerState.HalfOpen,
            OpenState => BreakerState.Open,
            HalfOpenState => BreakerState.HalfOpen,
            _ => BreakerState.Closed,
        };
        return new BreakerSnapshot(
            engineId,
            state,
            (int)Math.Min(int.MaxValue, ConsecutiveFailures),
            OpenedAt > 0 ? DateTimeOffset.FromUnixTimeMilliseconds(OpenedAt) : null,
            RetryAt > 0 ? DateTimeOffset.FromUnixTimeMilliseconds(RetryAt) : null,
            Reason.Length > 0 ? Reason : null,
            Version);
    }

    public string[] ToValues() =>
    [
        State, N(Version), N(ConsecutiveFailures), N(WindowStart), N(WindowFailures), N(WindowAttempts),
        N(PreviousFailures), N(PreviousAttempts), N(OpenedAt), N(RetryAt), N(CoolDown), Reason,
    ];

    /// <summary>Twelve values from <paramref name="offset"/>; empty values read as the initial record's.</summary>
    public static BreakerRecord Parse(IReadOnlyList<string?> values, int offset) => new(
        values[offset] is { Length: > 0 } state ? state : ClosedState,
        L(values[offset + 1]),
        L(values[offset + 2]),
        L(values[offset + 3]),
        L(values[offset + 4]),
        L(values[offset + 5]),
        L(values[offset + 6]),
        L(values[offset + 7]),
        L(values[offset + 8]),
        L(values[offset + 9]),
        L(values[offset + 10]),
        values[offset + 11] ?? string.Empty);

    private static string N(long value) => value.ToString(CultureInfo.InvariantCulture);

    private static long L(string? value) =>
        long.TryParse(value, NumberStyles.Integer, CultureInfo.InvariantCulture, out var parsed) ? parsed : 0;
}

/// <summary>A drain flag with its version (a cleared flag is kept, so versions never go backwards).</summary>
internal sealed record DrainRecord(bool Draining, long Version, string Reason)
{
    public static readonly DrainRecord Initial = new(false, 0, string.Empty);
}

/// <summary>A health entry with the local time it expires at.</summary>
internal sealed record HealthRecord(EngineHealthEntry Entry, long ExpiresAtMs);
