using System.Globalization;

namespace Platform.Watchdog.Actions;

/// <summary>One engine of a pool as the disruption budget sees it.</summary>
/// <param name="Healthy">Serving: reachable, making progress, not draining and not being acted on.</param>
/// <param name="Unavailable">Being drained or restarted by the watchdog (or drained by an operator).</param>
internal readonly record struct PoolMember(string EngineId, bool Healthy, bool Unavailable);

/// <summary>
/// The disruption budget of a pool: at most <c>MaxUnavailablePerPool</c> engines drained or restarting at once, and
/// never an action that takes a healthy engine away when that leaves fewer than <c>MinHealthyPerPool</c> healthy ones.
/// An engine that serves nothing (dead or hung) takes no capacity away when it is restarted, so the last engine of a
/// pool may be restarted when it is dead, never when it still serves.
/// </summary>
internal static class DisruptionBudget
{
    /// <summary>Null when the action on <paramref name="engineId"/> is allowed, else why not (with the figures).</summary>
    public static string? Check(string pool, string engineId, IReadOnlyCollection<PoolMember> members, BudgetOptions budget)
    {
        var unavailable = 0;
        var healthy = 0;
        var targetHealthy = false;
        foreach (var m in members)
        {
            if (m.EngineId == engineId)
            {
                targetHealthy = m.Healthy;
                continue;
            }

            if (m.Unavailable)
            {
                unavailable++;
            }

            if (m.Healthy)
            {
                healthy++;
            }
        }

        if (unavailable >= budget.MaxUnavailablePerPool)
        {
            return string.Create(CultureInfo.InvariantCulture,
                $"disruption budget: pool {pool} already has {unavailable} engine(s) draining or restarting (at most {budget.MaxUnavailablePerPool})");
        }

        if (targetHealthy && healthy < budget.MinHealthyPerPool)
        {
            return string.Create(CultureInfo.InvariantCulture,
                $"disruption budget: {engineId} still serves and pool {pool} would keep {healthy} healthy engine(s) (at least {budget.MinHealthyPerPool})");
        }

        return null;
    }
}
