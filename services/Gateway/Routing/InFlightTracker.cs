using System.Collections.Concurrent;

namespace Platform.Gateway.Routing;

/// <summary>Lock-free per-engine counters; a lease decrements its engine's counter exactly once.</summary>
internal sealed class InFlightTracker : IInFlightTracker
{
    private readonly ConcurrentDictionary<string, Counter> _counters = new(StringComparer.Ordinal);

    public int Count(string engineId) => _counters.TryGetValue(engineId, out var c) ? Volatile.Read(ref c.Value) : 0;

    public IDisposable Track(string engineId)
    {
        var counter = _counters.GetOrAdd(engineId, static _ => new Counter());
        Interlocked.Increment(ref counter.Value);
        return new Lease(counter);
    }

    private sealed class Counter
    {
        public int Value;
    }

    private sealed class Lease(Counter counter) : IDisposable
    {
        private int _disposed;

        public void Dispose()
        {
            if (Interlocked.Exchange(ref _disposed, 1) == 0)
            {
                Interlocked.Decrement(ref counter.Value);
            }
        }
    }
}
