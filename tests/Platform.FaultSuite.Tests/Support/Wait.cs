using System.Diagnostics;

namespace Platform.FaultSuite.Tests.Support;

/// <summary>Waits for a condition with a deadline instead of sleeping for luck; returns how long it took.</summary>
internal static class Wait
{
    public static async Task<TimeSpan> UntilAsync(Func<Task<bool>> condition, TimeSpan timeout, string what, CancellationToken ct = default)
    {
        var clock = Stopwatch.StartNew();
        while (!await condition())
        {
            if (clock.Elapsed > timeout)
            {
                throw new TimeoutException($"Timed out after {timeout.TotalSeconds:0} s waiting for {what}.");
            }

            await Task.Delay(20, ct);
        }

        return clock.Elapsed;
    }
}
