namespace Platform.AppHost.Orchestration;

/// <summary>
/// Exponential back-off between crash restarts: the n-th consecutive crash waits
/// <c>min(max, initial * 2^(n-1))</c>. A process that ran at least <c>resetAfter</c> before it crashed starts
/// the count afresh, so a rare crash restarts quickly while a crash loop settles at the maximum.
/// Not thread-safe: its supervisor calls it under its own lock.
/// </summary>
internal sealed class RestartBackoff(TimeSpan initial, TimeSpan max, TimeSpan resetAfter)
{
    public int ConsecutiveCrashes { get; private set; }

    /// <summary>Counts a crash of a process that ran for <paramref name="ranFor"/> and returns the delay before the restart.</summary>
    public TimeSpan NextDelay(TimeSpan ranFor)
    {
        if (ranFor >= resetAfter)
        {
            ConsecutiveCrashes = 0;
        }

        ConsecutiveCrashes++;
        return Delay(ConsecutiveCrashes, initial, max);
    }

    /// <summary>A start that was asked for (control API, a new start) forgets past crashes.</summary>
    public void Reset() => ConsecutiveCrashes = 0;

    public static TimeSpan Delay(int consecutiveCrashes, TimeSpan initial, TimeSpan max)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(consecutiveCrashes, 1);
        var exponent = Math.Min(consecutiveCrashes - 1, 30);
        var ticks = initial.Ticks * Math.Pow(2, exponent);
        return ticks >= max.Ticks ? max : TimeSpan.FromTicks((long)ticks);
    }
}
