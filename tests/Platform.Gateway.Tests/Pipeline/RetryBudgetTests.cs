using Microsoft.Extensions.Options;
using Microsoft.Extensions.Time.Testing;
using Platform.Gateway.Pipeline;

namespace Platform.Gateway.Tests.Pipeline;

public sealed class RetryBudgetTests
{
    [Fact]
    public void TryWithdraw_NoFloor_AllowsTwentyPercentOfRequests()
    {
        var time = new FakeTimeProvider();
        var budget = new RetryBudget(Options.Create(new RetryOptions { BudgetRatio = 0.2, MinRetriesPerSecond = 0 }), time);
        for (var i = 0; i < 100; i++)
        {
            budget.OnRequest();
        }

        var granted = Enumerable.Range(0, 50).Count(_ => budget.TryWithdraw());

        Assert.Equal(20, granted);
    }

    [Fact]
    public void TryWithdraw_QuietGateway_FloorAllowsSomeRetries()
    {
        var budget = new RetryBudget(Options.Create(new RetryOptions { MinRetriesPerSecond = 1, BudgetWindow = TimeSpan.FromSeconds(10) }), new FakeTimeProvider());
        budget.OnRequest();

        var granted = Enumerable.Range(0, 50).Count(_ => budget.TryWithdraw());

        Assert.Equal(10, granted);
    }

    [Fact]
    public void TryWithdraw_AfterWindow_BudgetRefills()
    {
        var time = new FakeTimeProvider();
        var budget = new RetryBudget(Options.Create(new RetryOptions { BudgetRatio = 0.5, MinRetriesPerSecond = 0 }), time);
        for (var i = 0; i < 4; i++)
        {
            budget.OnRequest();
        }

        Assert.True(budget.TryWithdraw());
        Assert.True(budget.TryWithdraw());
        Assert.False(budget.TryWithdraw());

        time.Advance(TimeSpan.FromSeconds(11));
        Assert.False(budget.TryWithdraw());
        budget.OnRequest();
        budget.OnRequest();
        Assert.True(budget.TryWithdraw());
    }
}

public sealed class BackoffTests
{
    private static readonly TimeSpan Base = TimeSpan.FromMilliseconds(25);
    private static readonly TimeSpan Cap = TimeSpan.FromMilliseconds(500);
    private static readonly TimeSpan Plenty = TimeSpan.FromSeconds(30);

    [Theory]
    [InlineData(1, 25)]
    [InlineData(2, 50)]
    [InlineData(3, 100)]
    [InlineData(6, 500)]
    [InlineData(40, 500)]
    public void Delay_UpperDraw_IsExponentialAndCapped(int retry, int expectedMs) =>
        Assert.Equal(expectedMs, Backoff.Delay(retry, Base, Cap, 0.999999, null, Plenty).TotalMilliseconds, 0.1);

    [Fact]
    public void Delay_IsJittered_BetweenZeroAndCeiling()
    {
        Assert.Equal(TimeSpan.Zero, Backoff.Delay(3, Base, Cap, 0, null, Plenty));
        Assert.Equal(50, Backoff.Delay(3, Base, Cap, 0.5, null, Plenty).TotalMilliseconds, 0.1);
    }

    [Fact]
    public void Delay_RetryAfterWithinBudget_IsHonoured()
    {
        Assert.Equal(TimeSpan.FromSeconds(2), Backoff.Delay(1, Base, Cap, 0.5, TimeSpan.FromSeconds(2), Plenty));
    }

    [Fact]
    public void Delay_RetryAfterBeyondBudget_IsIgnored()
    {
        var delay = Backoff.Delay(1, Base, Cap, 0.5, TimeSpan.FromSeconds(60), TimeSpan.FromSeconds(5));

        Assert.Equal(12.5, delay.TotalMilliseconds, 0.1);
    }

    [Fact]
    public void Delay_NeverExceedsRemaining()
    {
        Assert.Equal(TimeSpan.FromMilliseconds(10), Backoff.Delay(6, Base, Cap, 0.99, null, TimeSpan.FromMilliseconds(10)));
        Assert.Equal(TimeSpan.Zero, Backoff.Delay(6, Base, Cap, 0.99, null, TimeSpan.FromMilliseconds(-5)));
    }
}
