using Platform.AppHost.Orchestration;

namespace Platform.AppHost.Tests.Orchestration;

public sealed class RestartBackoffTests
{
    private static readonly TimeSpan Initial = TimeSpan.FromMilliseconds(500);
    private static readonly TimeSpan Max = TimeSpan.FromSeconds(30);
    private static readonly TimeSpan ResetAfter = TimeSpan.FromSeconds(60);

    [Theory]
    [InlineData(1, 500)]
    [InlineData(2, 1000)]
    [InlineData(3, 2000)]
    [InlineData(6, 16000)]
    [InlineData(7, 30000)]
    [InlineData(1000, 30000)]
    public void Delay_ConsecutiveCrashes_DoublesUpToTheMaximum(int crashes, int expectedMs)
    {
        Assert.Equal(TimeSpan.FromMilliseconds(expectedMs), RestartBackoff.Delay(crashes, Initial, Max));
    }

    [Fact]
    public void NextDelay_CrashLoop_GrowsEachTime()
    {
        var backoff = new RestartBackoff(Initial, Max, ResetAfter);

        var delays = Enumerable.Range(0, 4).Select(_ => backoff.NextDelay(TimeSpan.FromMilliseconds(50)).TotalMilliseconds).ToList();

        Assert.Equal([500, 1000, 2000, 4000], delays);
        Assert.Equal(4, backoff.ConsecutiveCrashes);
    }

    [Fact]
    public void NextDelay_AfterALongRun_StartsAfresh()
    {
        var backoff = new RestartBackoff(Initial, Max, ResetAfter);
        backoff.NextDelay(TimeSpan.Zero);
        backoff.NextDelay(TimeSpan.Zero);

        var delay = backoff.NextDelay(TimeSpan.FromMinutes(5));

        Assert.Equal(Initial, delay);
        Assert.Equal(1, backoff.ConsecutiveCrashes);
    }

    [Fact]
    public void Reset_AfterCrashes_StartsAfresh()
    {
        var backoff = new RestartBackoff(Initial, Max, ResetAfter);
        backoff.NextDelay(TimeSpan.Zero);
        backoff.NextDelay(TimeSpan.Zero);

        backoff.Reset();

        Assert.Equal(Initial, backoff.NextDelay(TimeSpan.Zero));
    }
}
