using Platform.Watchdog.Actions;

namespace Platform.Watchdog.Tests.Actions;

public sealed class BudgetTests
{
    private static readonly DateTimeOffset T0 = new(2026, 1, 1, 12, 0, 0, TimeSpan.Zero);

    private static readonly BudgetOptions Budget = new()
    {
        MinHealthyPerPool = 1, MaxUnavailablePerPool = 1, MaxRestartsPerHour = 3,
        InitialBackoff = TimeSpan.FromSeconds(30), MaxBackoff = TimeSpan.FromSeconds(100),
    };

    [Theory]
    [InlineData(0, 0)]
    [InlineData(1, 30)]
    [InlineData(2, 60)]
    [InlineData(3, 100)]
    [InlineData(40, 100)]
    public void Backoff_DoublesPerRestartInTheHourUpToTheMaximum(int restarts, int seconds) =>
        Assert.Equal(TimeSpan.FromSeconds(seconds), RestartLedger.Backoff(restarts, Budget));

    [Fact]
    public void NotBefore_AfterEachRestart_GrowsAndEndsWhenItHasPassed()
    {
        var ledger = new RestartLedger();
        Assert.Null(ledger.NotBefore(T0, Budget));

        ledger.Record(T0);
        Assert.Equal(T0.AddSeconds(30), ledger.NotBefore(T0.AddSeconds(1), Budget));
        Assert.Null(ledger.NotBefore(T0.AddSeconds(30), Budget));

        ledger.Record(T0.AddSeconds(40));
        Assert.Equal(T0.AddSeconds(100), ledger.NotBefore(T0.AddSeconds(41), Budget));
    }

    [Fact]
    public void BudgetSpent_AtTheHourlyLimit_AndFreedAsRestartsAgeOut()
    {
        var ledger = new RestartLedger();
        ledger.Record(T0);
        ledger.Record(T0.AddMinutes(10));
        Assert.False(ledger.BudgetSpent(T0.AddMinutes(11), Budget));

        ledger.Record(T0.AddMinutes(20));
        Assert.True(ledger.BudgetSpent(T0.AddMinutes(21), Budget));
        Assert.Equal(3, ledger.CountLastHour(T0.AddMinutes(59)));

        Assert.False(ledger.BudgetSpent(T0.AddMinutes(60), Budget));
        Assert.Equal(2, ledger.CountLastHour(T0.AddMinutes(60)));
    }

    [Fact]
    public void Disruption_LastHealthyEngineOfAPool_IsRefused()
    {
        PoolMember[] pool = [new("code-0", Healthy: true, Unavailable: false)];

        var refusal = DisruptionBudget.Check("code", "code-0", pool, Budget);

        Assert.NotNull(refusal);
        Assert.Contains("code-0 still serves and pool code would keep 0 healthy engine(s) (at least 1)", refusal, StringComparison.Ordinal);
    }

    [Fact]
    public void Disruption_LastEngineOfAPoolThatServesNothing_MayBeRestarted()
    {
        PoolMember[] pool = [new("code-0", Healthy: false, Unavailable: false)];

        Assert.Null(DisruptionBudget.Check("code", "code-0", pool, Budget));
    }

    [Fact]
    public void Disruption_AnotherHealthyEngineLeft_IsAllowed()
    {
        PoolMember[] pool = [new("general-0", true, false), new("general-1", true, false)];

        Assert.Null(DisruptionBudget.Check("general", "general-1", pool, Budget));
    }

    [Fact]
    public void Disruption_AnotherEngineAlreadyRestarting_IsRefusedEvenForADeadEngine()
    {
        PoolMember[] pool = [new("general-0", false, Unavailable: true), new("general-1", false, false), new("general-2", true, false)];

        var refusal = DisruptionBudget.Check("general", "general-1", pool, Budget);

        Assert.NotNull(refusal);
        Assert.Contains("already has 1 engine(s) draining or restarting (at most 1)", refusal, StringComparison.Ordinal);
    }

    [Fact]
    public void Disruption_MinHealthyTwo_KeepsTwoServing()
    {
        var budget = new BudgetOptions { MinHealthyPerPool = 2, MaxUnavailablePerPool = 2 };
        PoolMember[] pool = [new("g-0", true, false), new("g-1", true, false), new("g-2", true, false)];

        Assert.Null(DisruptionBudget.Check("g", "g-2", pool, budget));
        Assert.NotNull(DisruptionBudget.Check("g", "g-2", [new("g-0", true, false), new("g-1", false, false), new("g-2", true, false)], budget));
    }
}
