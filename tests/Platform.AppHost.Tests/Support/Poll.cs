using System.Diagnostics;

namespace Platform.AppHost.Tests.Support;

/// <summary>Waits for a condition with a deadline instead of sleeping for luck.</summary>
internal static class Poll
{
    public static async Task UntilAsync(Func<Task<bool>> condition, TimeSpan timeout, string what, CancellationToken cancellationToken = default)
    {
        var clock = Stopwatch.StartNew();
        while (true)
        {
            if (await condition())
            {
                return;
            }

            if (clock.Elapsed > timeout)
            {
                throw new TimeoutException($"Timed out after {timeout.TotalSeconds:0} s waiting for {what}.");
            }

            await Task.Delay(50, cancellationToken);
        }
    }

    public static Task UntilAsync(Func<bool> condition, TimeSpan timeout, string what, CancellationToken cancellationToken = default) =>
        UntilAsync(() => Task.FromResult(condition()), timeout, what, cancellationToken);
}
