using System.Threading.Channels;
using Google.Protobuf.WellKnownTypes;
using Platform.Watchdog.V1;

namespace Platform.Watchdog.Events;

/// <summary>
/// Every decision as an event with its reason: numbered, kept in a ring of the last <see cref="Capacity"/>, and sent
/// to every subscriber. Each subscriber has a bounded channel that drops its oldest undelivered event when full, so a
/// slow reader never blocks the watchdog; the gap shows in <see cref="Event.Sequence"/>. Thread-safe.
/// </summary>
internal sealed class EventLog(TimeProvider timeProvider)
{
    public const int Capacity = 1000;

    /// <summary>Undelivered events one subscriber may hold.</summary>
    public const int SubscriberCapacity = 256;

    private readonly Lock _lock = new();
    private readonly Queue<Event> _recent = new();
    private readonly List<Channel<Event>> _subscribers = [];
    private ulong _sequence;

    /// <summary>Raised after an event was recorded (metrics and logs hang here).</summary>
    public event Action<Event>? Recorded;

    public Event Record(EventKind kind, string engineId, string pool, string source, string reason)
    {
        Event e;
        lock (_lock)
        {
            e = new Event
            {
                Sequence = ++_sequence,
                At = Timestamp.FromDateTimeOffset(timeProvider.GetUtcNow()),
                Kind = kind,
                EngineId = engineId,
                Pool = pool,
                Source = source,
                Reason = reason,
            };
            _recent.Enqueue(e);
            if (_recent.Count > Capacity)
            {
                _recent.Dequeue();
            }

            foreach (var subscriber in _subscribers)
            {
                subscriber.Writer.TryWrite(e);
            }
        }

        Recorded?.Invoke(e);
        return e;
    }

    /// <summary>The newest <paramref name="limit"/> events (of one engine when given), oldest first.</summary>
    public IReadOnlyList<Event> Recent(int limit, string? engineId = null)
    {
        lock (_lock)
        {
            var matching = string.IsNullOrEmpty(engineId) ? _recent.ToList() : _recent.Where(e => e.EngineId == engineId).ToList();
            return matching.Count <= limit ? matching : matching.GetRange(matching.Count - limit, limit);
        }
    }

    /// <summary>The newest event of an engine, or null.</summary>
    public Event? LastOf(string engineId)
    {
        lock (_lock)
        {
            return _recent.LastOrDefault(e => e.EngineId == engineId);
        }
    }

    /// <summary>
    /// A subscription: the newest <paramref name="replay"/> events first, then every new one, with no gap and no
    /// duplicate between the two (both are taken under the same lock).
    /// </summary>
    public Subscription Subscribe(int replay)
    {
        var channel = Channel.CreateBounded<Event>(new BoundedChannelOptions(SubscriberCapacity + Math.Max(0, replay))
        {
            FullMode = BoundedChannelFullMode.DropOldest,
            SingleReader = true,
            SingleWriter = false,
        });
        lock (_lock)
        {
            foreach (var e in _recent.Skip(Math.Max(0, _recent.Count - replay)))
            {
                channel.Writer.TryWrite(e);
            }

            _subscribers.Add(channel);
        }

        return new Subscription(this, channel);
    }

    public int SubscriberCount
    {
        get
        {
            lock (_lock)
            {
                return _subscribers.Count;
            }
        }
    }

    private void Unsubscribe(Channel<Event> channel)
    {
        lock (_lock)
        {
            _subscribers.Remove(channel);
        }

        channel.Writer.TryComplete();
    }

    internal sealed class Subscription(EventLog log, Channel<Event> channel) : IDisposable
    {
        public ChannelReader<Event> Reader => channel.Reader;

        public void Dispose() => log.Unsubscribe(channel);
    }
}
