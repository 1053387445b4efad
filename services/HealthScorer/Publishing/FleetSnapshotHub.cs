using System.Threading.Channels;
using Google.Protobuf.WellKnownTypes;
using Platform.HealthScorer.Scoring;
using Platform.HealthScorer.Telemetry;
using HealthV1 = Platform.Health.V1;

namespace Platform.HealthScorer.Publishing;

/// <summary>
/// The latest fleet snapshot and its subscribers. Each subscriber has a channel of capacity one that drops the
/// older snapshot when full (grpc-dotnet's HealthServiceImpl.Watch does the same): a slow subscriber always gets the
/// newest snapshot next and never a backlog, and the server holds at most one pending snapshot per subscriber.
/// Publishing is serialised (sequence numbers increase in the order subscribers see them); reads are lock-free.
/// </summary>
internal sealed class FleetSnapshotHub
{
    private readonly TimeProvider _timeProvider;
    private readonly HealthScorerMetrics _metrics;
    private readonly Lock _gate = new();
    private readonly List<Channel<HealthV1.FleetSnapshot>> _subscribers = [];
    private readonly TaskCompletionSource _first = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private HealthV1.FleetSnapshot? _latest;
    private IReadOnlyList<EngineStatus> _statuses = [];
    private IReadOnlyList<PoolStatus> _pools = [];
    private ulong _sequence;
    private bool _completed;

    public FleetSnapshotHub(TimeProvider timeProvider, HealthScorerMetrics metrics)
    {
        _timeProvider = timeProvider;
        _metrics = metrics;
        metrics.ObserveStatuses(() => Statuses);
        metrics.ObservePools(() => Pools);
        metrics.ObserveSubscribers(() => SubscriberCount);
    }

    /// <summary>The newest snapshot; null before the first scrape round ended.</summary>
    public HealthV1.FleetSnapshot? Latest => Volatile.Read(ref _latest);

    /// <summary>The statuses behind <see cref="Latest"/>.</summary>
    public IReadOnlyList<EngineStatus> Statuses => Volatile.Read(ref _statuses);

    /// <summary>The pools' aggregates behind <see cref="Latest"/>.</summary>
    public IReadOnlyList<PoolStatus> Pools => Volatile.Read(ref _pools);

    /// <summary>Completes when the first snapshot exists.</summary>
    public Task FirstSnapshot => _first.Task;

    public int SubscriberCount
    {
        get
        {
            lock (_gate)
            {
                return _subscribers.Count;
            }
        }
    }

    /// <summary>Builds the next snapshot from <paramref name="statuses"/> and hands it to every subscriber.</summary>
    public HealthV1.FleetSnapshot Publish(IReadOnlyList<EngineStatus> statuses)
    {
        var engines = new HealthV1.EngineHealth[statuses.Count];
        for (var i = 0; i < engines.Length; i++)
        {
            engines[i] = ToProto(statuses[i]);
        }

        var poolStatuses = PoolStatus.Aggregate(statuses);
        var pools = new HealthV1.PoolHealth[poolStatuses.Length];
        for (var i = 0; i < pools.Length; i++)
        {
            pools[i] = ToProto(poolStatuses[i]);
        }

        lock (_gate)
        {
            var snapshot = new HealthV1.FleetSnapshot
            {
                Sequence = ++_sequence,
                ProducedAt = Timestamp.FromDateTimeOffset(_timeProvider.GetUtcNow()),
            };
            snapshot.Engines.AddRange(engines);
            snapshot.Pools.AddRange(pools);
            Volatile.Write(ref _statuses, statuses);
            Volatile.Write(ref _pools, poolStatuses);
            Volatile.Write(ref _latest, snapshot);
            foreach (var subscriber in _subscribers)
            {
                // DropOldest: TryWrite always succeeds; when a snapshot was still pending it is replaced.
                if (subscriber.Reader.Count > 0)
                {
                    _metrics.SnapshotDropped();
                }

                subscriber.Writer.TryWrite(snapshot);
            }

            _first.TrySetResult();
            return snapshot;
        }
    }

    /// <summary>A subscription that starts with the latest snapshot (when there is one). Dispose it to leave.</summary>
    public Subscription Subscribe()
    {
        var channel = Channel.CreateBounded<HealthV1.FleetSnapshot>(new BoundedChannelOptions(1)
        {
            FullMode = BoundedChannelFullMode.DropOldest,
            SingleReader = true,
            SingleWriter = false,
        });
        lock (_gate)
        {
            if (_latest is { } latest)
            {
                channel.Writer.TryWrite(latest);
            }

            if (_completed)
            {
                channel.Writer.TryComplete();
            }
            else
            {
                _subscribers.Add(channel);
            }
        }

        return new Subscription(this, channel);
    }

    /// <summary>Ends every subscription (server shutdown): streams finish after their pending snapshot.</summary>
    public void Complete()
    {
        lock (_gate)
        {
            _completed = true;
            foreach (var subscriber in _subscribers)
            {
                subscriber.Writer.TryComplete();
            }

            _subscribers.Clear();
        }
    }

    private void Remove(Channel<HealthV1.FleetSnapshot> channel)
    {
        lock (_gate)
        {
            _subscribers.Remove(channel);
        }

        channel.Writer.TryComplete();
    }

    internal static HealthV1.EngineHealth ToProto(EngineStatus s)
    {
        var e = new HealthV1.EngineHealth
        {
            EngineId = s.Engine.Id,
            Pool = s.Engine.Pool,
            Model = s.Engine.Model,
            Endpoint = s.Engine.BaseUri.AbsoluteUri.TrimEnd('/'),
            Score = s.Score,
            Pressure = s.Pressure == Fleet.State.PressureState.UnderPressure
                ? HealthV1.PressureState.UnderPressure
                : HealthV1.PressureState.Normal,
            Reachable = s.Reachable,
            Stalled = s.Stalled,
            KvCacheUsage = s.KvCacheUsage,
            Running = s.Running,
            Waiting = s.Waiting,
            PreemptionsPerSecond = s.PreemptionsPerSecond,
            TtftP50Seconds = s.TtftP50Seconds,
            TtftP95Seconds = s.TtftP95Seconds,
            ItlP50Seconds = s.ItlP50Seconds,
            ItlP95Seconds = s.ItlP95Seconds,
            PrefixCacheHitRate = s.PrefixCacheHitRate,
            SpecAcceptanceRate = s.SpecAcceptanceRate,
            SpecMeanAcceptanceLength = s.SpecMeanAcceptanceLength,
            GenerationTokensPerSecond = s.GenerationTokensPerSecond,
            ConsecutiveScrapeErrors = (uint)s.ConsecutiveScrapeErrors,
            LastScrapeError = s.LastScrapeError,
            MetricGeneration = s.Generation switch
            {
                MetricGeneration.V1 => HealthV1.MetricGeneration.V1,
                MetricGeneration.V0 => HealthV1.MetricGeneration.V0,
                _ => HealthV1.MetricGeneration.Unspecified,
            },
            EngineVersion = s.EngineVersion,
        };
        if (s.ObservedAt is { } observed)
        {
            e.ObservedAt = Timestamp.FromDateTimeOffset(observed);
        }

        e.MissingSeries.AddRange(s.MissingSeries);
        return e;
    }

    internal static HealthV1.PoolHealth ToProto(PoolStatus p) => new()
    {
        Pool = p.Pool,
        Model = p.Model,
        Engines = (uint)p.Engines,
        HealthyEngines = (uint)p.HealthyEngines,
        SpecAcceptanceRate = p.SpecAcceptanceRate,
        SpecMeanAcceptanceLength = p.SpecMeanAcceptanceLength,
        SpecDraftTokens = p.SpecDraftTokens,
        SpecAcceptedTokens = p.SpecAcceptedTokens,
        SpecDrafts = p.SpecDrafts,
    };

    /// <summary>One subscriber's view: read <see cref="Reader"/>; dispose to unsubscribe.</summary>
    internal sealed class Subscription(FleetSnapshotHub hub, Channel<HealthV1.FleetSnapshot> channel) : IDisposable
    {
        public ChannelReader<HealthV1.FleetSnapshot> Reader => channel.Reader;

        public void Dispose() => hub.Remove(channel);
    }
}
