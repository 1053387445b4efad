namespace Platform.Fleet.State;

/// <summary>
/// The breaker transitions, exactly as the Lua scripts in <see cref="FleetScripts"/> make them, for when Redis is
/// unreachable and a replica decides alone. Pure functions of (record, input, now, options).
/// </summary>
internal static class BreakerRules
{
    public static BreakerRecord RecordOutcome(BreakerRecord b, bool failure, string reason, long now, FleetStateOptions options)
    {
        if (!b.IsClosed)
        {
            return b;
        }

        var window = (long)options.FailureWindow.TotalMilliseconds;
        b = Roll(b, now, window);
        b = failure
            ? b with { ConsecutiveFailures = b.ConsecutiveFailures + 1, WindowFailures = b.WindowFailures + 1, WindowAttempts = b.WindowAttempts + 1 }
            : b with { ConsecutiveFailures = 0, WindowAttempts = b.WindowAttempts + 1 };
        if (!failure)
        {
            return b;
        }

        var weight = 1 - ((double)(now - b.WindowStart) / window);
        var attempts = b.WindowAttempts + (b.PreviousAttempts * weight);
        var failures = b.WindowFailures + (b.PreviousFailures * weight);
        if (b.ConsecutiveFailures >= options.ConsecutiveFailures || (attempts >= options.MinimumAttempts && failures >= options.FailureRatio * attempts))
        {
            var cool = (long)options.CoolDown.TotalMilliseconds;
            return b with
            {
                State = BreakerRecord.OpenState,
                Version = b.Version + 1,
                OpenedAt = now,
                CoolDown = cool,
                RetryAt = now + cool,
                Reason = reason,
            };
        }

        return b;
    }

    /// <summary>The record after a probe lease is granted, or null when the breaker is not ready for a probe.</summary>
    public static BreakerRecord? BeginProbe(BreakerRecord b, long now)
    {
        if (b.IsClosed || (b.State == BreakerRecord.OpenState && now < b.RetryAt))
        {
            return null;
        }

        return b.State == BreakerRecord.HalfOpenState ? b : b with { State = BreakerRecord.HalfOpenState, Version = b.Version + 1 };
    }

    public static BreakerRecord CompleteProbe(BreakerRecord b, bool success, string reason, long now, FleetStateOptions options)
    {
        if (b.IsClosed)
        {
            return b;
        }

        if (success)
        {
            return BreakerRecord.Initial with { Version = b.Version + 1 };
        }

        var baseCool = (long)options.CoolDown.TotalMilliseconds;
        var cool = Math.Min(Math.Max(b.CoolDown, baseCool) * 2, (long)options.MaxCoolDown.TotalMilliseconds);
        return b with { State = BreakerRecord.OpenState, Version = b.Version + 1, CoolDown = cool, RetryAt = now + cool, Reason = reason };
    }

    private static BreakerRecord Roll(BreakerRecord b, long now, long window)
    {
        var start = now / window * window;
        if (b.WindowStart == start)
        {
            return b;
        }

        return b.WindowStart == start - window
            ? b with { PreviousFailures = b.WindowFailures, PreviousAttempts = b.WindowAttempts, WindowFailures = 0, WindowAttempts = 0, WindowStart = start }
            : b with { PreviousFailures = 0, PreviousAttempts = 0, WindowFailures = 0, WindowAttempts = 0, WindowStart = start };
    }
}
