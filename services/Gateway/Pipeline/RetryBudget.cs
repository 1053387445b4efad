using Microsoft.Extensions.Options;

namespace Platform.Gateway.Pipeline;

/// <summary>
/// Retries allowed over a sliding window (ten slots): at most <see cref="RetryOptions.BudgetRatio"/> × requests plus
/// <see cref="RetryOptions.MinRetriesPerSecond"/> × window seconds. When engines fail en masse, retries stop growing
/// the load (at most 1.2× upstream attempts per request at the default ratio) and requests fail fast instead.
/// </summary>
internal sealed class RetryBudget
{
    private const int Slots = 10;
    private readonly long[] _requests = new long[Slots];
    private readonly long[] _retries = new long[Slots];
    private readonly long[] _slotIds = new long[Slots];
    private readonly long _slotTicks;
    private readonly double _ratio;
    private readonly double _floor;
    private readonly TimeProvider _timeProvider;
    private readonly Lock _lock = new();

    public RetryBudget(IOptions<RetryOptions> options, TimeProvider timeProvider)
    {
        var o = options.Value;
        _slotTicks = Math.Max(1, o.BudgetWindow.Ticks / Slots);
        _ratio = o.BudgetRatio;
        _floor = o.MinRetriesPerSecond * o.BudgetWindow.TotalSeconds;
        _timeProvider = timeProvider;
        Array.Fill(_slotIds, long.MinValue);
    }

    /// <summary>Counts a client request (a deposit).</summary>
    public void OnRequest()
    {
        lock (_lock)
        {
            _requests[Current()]++;
        }
    }

    /// <summary>Takes one retry from the budget; false when spent.</summary>
    public bool TryWithdraw()
    {
        lock (_lock)
        {
            var slot = Current();
            long requests = 0, retries = 0;
            for (var i = 0; i < Slots; i++)
            {
                requests += _requests[i];
                retries += _retries[i];
            }

            if (retries + 1 > (_ratio * requests) + _floor)
            {
                return false;
            }

            _retries[slot]++;
            return true;
        }
    }

    /// <summary>The current slot, clearing slots that fell out of the window.</summary>
    private int Current()
    {
        var id = _timeProvider.GetUtcNow().UtcTicks / _slotTicks;
        var index = (int)(id % Slots);
        if (_slotIds[index] != id)
        {
            for (var i = 0; i < Slots; i++)
            {
                if (_slotIds[i] != long.MinValue && id - _slotIds[i] >= Slots)
                {
                    _requests[i] = 0;
                    _retries[i] = 0;
                    _slotIds[i] = long.MinValue;
                }
            }

            _requests[index] = 0;
            _retries[index] = 0;
            _slotIds[index] = id;
        }

        return index;
    }
}

/// <summary>Exponential back-off with full jitter, bounded; an engine's Retry-After wins when it fits the remaining time.</summary>
internal static class Backoff
{
    /// <param name="retry">1 for the first retry.</param>
    /// <param name="random01">A uniform draw in [0, 1).</param>
    /// <param name="retryAfter">The failed engine's Retry-After, if any.</param>
    /// <param name="remaining">Time left before the first-token deadline of the request.</param>
    public static TimeSpan Delay(int retry, TimeSpan baseDelay, TimeSpan maxDelay, double random01, TimeSpan? retryAfter, TimeSpan remaining)
    {
        var exponent = Math.Min(retry - 1, 30);
        var ceiling = Math.Min(maxDelay.Ticks, baseDelay.Ticks * (1L << exponent));
        var delay = TimeSpan.FromTicks((long)(ceiling * Math.Clamp(random01, 0, 1)));
        if (retryAfter is { } after && after <= remaining && after > delay)
        {
            delay = after;
        }

        return delay > remaining ? (remaining > TimeSpan.Zero ? remaining : TimeSpan.Zero) : delay;
    }
}
