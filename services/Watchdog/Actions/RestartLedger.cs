namespace Platform.Watchdog.Actions;

/// <summary>
/// The restarts of one engine over the last rolling hour: the restart budget and the exponential back-off are both
/// read from it. After the n-th restart within the hour, the next automatic action waits
/// <c>min(InitialBackoff × 2^(n−1), MaxBackoff)</c>; with <c>MaxRestartsPerHour</c> restarts in the hour the budget is
/// spent. Not thread-safe: the coordinator holds its lock.
/// </summary>
internal sealed class RestartLedger
{
    public static readonly TimeSpan BudgetWindow = TimeSpan.FromHours(1);

    private readonly List<DateTimeOffset> _restarts = [];

    public void Record(DateTimeOffset at) => _restarts.Add(at);

    /// <summary>Takes back a restart that did not happen (it could not be recorded where the next leader reads it).</summary>
    public void Forget(DateTimeOffset at) => _restarts.Remove(at);

    /// <summary>The restarts within the last hour, oldest first (what is persisted for the next leader).</summary>
    public IReadOnlyList<DateTimeOffset> Restarts(DateTimeOffset now)
    {
        CountLastHour(now);
        return [.. _restarts];
    }

    /// <summary>
    /// Adds restarts another leader recorded (read when this replica becomes leader); the same instant is counted once,
    /// so a restart this replica recorded itself and also reads back is not counted twice.
    /// </summary>
    public void Merge(IEnumerable<DateTimeOffset> restarts)
    {
        foreach (var at in restarts)
        {
            if (!_restarts.Exists(t => Math.Abs((t - at).TotalMilliseconds) < 1))
            {
                _restarts.Add(at);
            }
        }

        _restarts.Sort();
    }

    public int CountLastHour(DateTimeOffset now)
    {
        _restarts.RemoveAll(t => t <= now - BudgetWindow);
        return _restarts.Count;
    }

    public bool BudgetSpent(DateTimeOffset now, BudgetOptions budget) => CountLastHour(now) >= budget.MaxRestartsPerHour;

    /// <summary>No automatic action on the engine before this time; null when no back-off applies.</summary>
    public DateTimeOffset? NotBefore(DateTimeOffset now, BudgetOptions budget)
    {
        var n = CountLastHour(now);
        if (n == 0)
        {
            return null;
        }

        var backoff = Backoff(n, budget);
        var until = _restarts[^1] + backoff;
        return until > now ? until : null;
    }

    public static TimeSpan Backoff(int restartsInWindow, BudgetOptions budget)
    {
        if (restartsInWindow <= 0)
        {
            return TimeSpan.Zero;
        }

        var factor = Math.Pow(2, Math.Min(restartsInWindow - 1, 30));
        var ticks = budget.InitialBackoff.Ticks * factor;
        return ticks >= budget.MaxBackoff.Ticks ? budget.MaxBackoff : TimeSpan.FromTicks((long)ticks);
    }
}
