using System.Collections.Concurrent;
using System.Globalization;
using System.Text.Json;
using System.Threading.Channels;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Platform.Fleet.Catalog;
using Platform.Fleet.Redis;
using StackExchange.Redis;

namespace Platform.Fleet.State;

/// <summary>
/// <see cref="IFleetState"/> on Redis with a local copy. Reads never leave the process: three concurrent
/// dictionaries of immutable entries, replaced whole (compare-and-swap by version, never backwards). Writes run one
/// Lua script each, bounded by <see cref="FleetStateOptions.RedisTimeout"/>; past it, or while Redis is known to be
/// down, the same rules (<see cref="BreakerRules"/>) run locally and the reconcile loop pushes them back when Redis
/// returns. Successes are recorded in the background (bounded queue) so the hot path never waits on Redis for them.
/// </summary>
internal sealed class RedisFleetState : IFleetState, IHostedService, IAsyncDisposable, IDisposable
{
    private const int SuccessBatch = 64;

    private static readonly Func<string, BreakerSnapshot> ClosedSnapshot = BreakerSnapshot.Closed;

    private readonly FleetStateOptions _options;
    private readonly FleetRedisConnection _connection;
    private readonly TimeProvider _time;
    private readonly ILogger _logger;
    private readonly FleetMetrics _metrics;
    private readonly IFleetCatalog? _catalog;
    private readonly string _origin;
    private readonly string _prefix;
    private readonly RedisKey _enginesKey;
    private readonly RedisChannel _channel;
    private readonly TimeSpan _bulkTimeout;
    private readonly ConcurrentDictionary<string, BreakerEntry> _breakers = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, DrainRecord> _drains = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, HealthRecord> _health = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, long> _localLeases = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, EngineKeys> _keys = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, BreakerSnapshot> _closed = new(StringComparer.Ordinal);
    private readonly Channel<string> _successes;
    private readonly Channel<bool> _wake = Channel.CreateBounded<bool>(new BoundedChannelOptions(1) { FullMode = BoundedChannelFullMode.DropWrite });
    private readonly CancellationTokenSource _stopping = new();
    private IDatabase? _database;
    private Task _reconcileLoop = Task.CompletedTask;
    private Task _successLoop = Task.CompletedTask;
    private volatile bool _available;
    private volatile bool _subscribed;
    private int _started;

    public RedisFleetState(
        IOptions<FleetStateOptions> options,
        FleetRedisConnection connection,
        TimeProvider time,
        ILogger<RedisFleetState> logger,
        FleetMetrics metrics,
        IFleetCatalog? catalog = null)
    {
        _options = options.Value;
        _connection = connection;
        _time = time;
        _logger = logger;
        _metrics = metrics;
        _catalog = catalog;
        _origin = _options.ReplicaId ?? string.Create(CultureInfo.InvariantCulture, $"{Environment.MachineName}-{Environment.ProcessId}-{Random.Shared.Next():x8}");
        _prefix = _options.KeyPrefix;
        _enginesKey = _prefix + "fleet:engines";
        _channel = RedisChannel.Literal(_prefix + "fleet:changes");
        _bulkTimeout = TimeSpan.FromTicks(Math.Max(_options.RedisTimeout.Ticks * 4, TimeSpan.FromSeconds(1).Ticks));
        _successes = Channel.CreateBounded<string>(
            new BoundedChannelOptions(_options.SuccessQueueCapacity) { FullMode = BoundedChannelFullMode.DropOldest, SingleReader = true },
            _ => _metrics.DroppedSuccess());
        _metrics.ObserveRedisAvailability(() => _available ? 1 : 0);
    }

    public event Action<FleetChange>? Changed;

    public bool RedisAvailable => _available;

    /// <summary>This replica's name in messages and leases.</summary>
    public string Origin => _origin;

    public BreakerSnapshot GetBreaker(string engineId) =>
        _breakers.TryGetValue(engineId, out var entry) ? entry.Snapshot(Now()) : _closed.GetOrAdd(engineId, ClosedSnapshot);

    public bool IsDraining(string engineId) => _drains.TryGetValue(engineId, out var drain) && drain.Draining;

    public EngineHealthEntry? GetHealth(string engineId) =>
        _health.TryGetValue(engineId, out var health) && health.ExpiresAtMs > Now() ? health.Entry : null;

    public ValueTask<BreakerSnapshot> RecordOutcomeAsync(string engineId, EngineOutcome outcome, string? reason, CancellationToken cancellationToken)
    {
        if (outcome == EngineOutcome.Ignored)
        {
            return ValueTask.FromResult(GetBreaker(engineId));
        }

        var failure = outcome == EngineOutcome.Failure;
        var current = _breakers.TryGetValue(engineId, out var entry) ? entry.Record : BreakerRecord.Initial;
        if (!current.IsClosed)
        {
            // Outcomes of requests that were in flight when the breaker opened change nothing (the scripts agree).
            return ValueTask.FromResult(entry!.Snapshot(Now()));
        }

        if (_database is not { } database || !_available)
        {
            return ValueTask.FromResult(LocalOutcome(engineId, failure, reason));
        }

        if (!failure && current.ConsecutiveFailures == 0)
        {
            // Nothing to reset that this replica knows of: count the attempt in the background.
            _successes.Writer.TryWrite(engineId);
            return ValueTask.FromResult(GetBreaker(engineId));
        }

        return RemoteOutcomeAsync(database, engineId, failure, reason, cancellationToken);
    }

    public async ValueTask<bool> TryAcquireProbeLeaseAsync(string engineId, CancellationToken cancellationToken)
    {
        if (GetBreaker(engineId).State != BreakerState.HalfOpen)
        {
            return false;
        }

        if (_database is not { } database || !_available)
        {
            return LocalProbe(engineId);
        }

        var keys = KeysOf(engineId);
        try
        {
            var result = await database.ScriptEvaluateAsync(
                FleetScripts.AcquireProbe,
                [keys.Breaker, keys.Probe],
                [engineId, _origin, Now(), (long)_options.ProbeLeaseTtl.TotalMilliseconds, _channel.ToString()])
                .WaitAsync(_options.RedisTimeout, cancellationToken).ConfigureAwait(false);
            var values = (string?[])result!;
            ApplyBreaker(engineId, BreakerRecord.Parse(values, 1), _origin, Now());
            return values[0] == "1";
        }
        catch (Exception ex) when (!cancellationToken.IsCancellationRequested)
        {
            MarkUnavailable("probe", ex);
            return LocalProbe(engineId);
        }
    }

    public async ValueTask<BreakerSnapshot> CompleteProbeAsync(string engineId, bool success, string? reason, CancellationToken cancellationToken)
    {
        _localLeases.TryRemove(engineId, out _);
        if (_database is not { } database || !_available)
        {
            return LocalCompleteProbe(engineId, success, reason);
        }

        var keys = KeysOf(engineId);
        try
        {
            var result = await database.ScriptEvaluateAsync(
                FleetScripts.CompleteProbe,
                [keys.Breaker, keys.Probe],
                [
                    engineId, _origin, Now(), success ? "1" : "0", Clean(reason),
                    (long)_options.CoolDown.TotalMilliseconds, (long)_options.MaxCoolDown.TotalMilliseconds, _channel.ToString(),
                ]).WaitAsync(_options.RedisTimeout, cancellationToken).ConfigureAwait(false);
            ApplyBreaker(engineId, BreakerRecord.Parse((string?[])result!, 0), _origin, Now());
            return GetBreaker(engineId);
        }
        catch (Exception ex) when (!cancellationToken.IsCancellationRequested)
        {
            MarkUnavailable("probe", ex);
            return LocalCompleteProbe(engineId, success, reason);
        }
    }

    public async ValueTask SetDrainingAsync(string engineId, bool draining, string? reason, CancellationToken cancellationToken)
    {
        var clean = Clean(reason);
        if (_database is { } database && _available)
        {
            var keys = KeysOf(engineId);
            try
            {
                var version = await database.ScriptEvaluateAsync(
                    FleetScripts.SetDrain,
                    [keys.Drain, _enginesKey],
                    [engineId, _origin, Now(), draining ? "1" : "0", clean, _channel.ToString()])
                    .WaitAsync(_options.RedisTimeout, cancellationToken).ConfigureAwait(false);
                ApplyDrain(engineId, new DrainRecord(draining, (long)version, clean), _origin, Now());
                return;
            }
            catch (Exception ex) when (!cancellationToken.IsCancellationRequested)
            {
                MarkUnavailable("drain", ex);
            }
        }

        while (true)
        {
            var current = _drains.GetValueOrDefault(engineId) ?? DrainRecord.Initial;
            if (ApplyDrain(engineId, new DrainRecord(draining, current.Version + 1, clean), _origin, Now()))
            {
                return;
            }
        }
    }

    public async ValueTask PublishHealthAsync(IReadOnlyList<EngineHealthEntry> entries, CancellationToken cancellationToken)
    {
        if (entries.Count == 0)
        {
            return;
        }

        var now = Now();
        var ttl = (long)_options.HealthTtl.TotalMilliseconds;
        foreach (var entry in entries)
        {
            ApplyHealth(entry.EngineId, new HealthRecord(entry, now + ttl), _origin, now);
        }

        if (_database is not { } database || !_available)
        {
            return;
        }

        var keys = new RedisKey[entries.Count + 1];
        var args = new RedisValue[4 + (entries.Count * 2)];
        keys[0] = _enginesKey;
        args[0] = _channel.ToString();
        args[1] = _origin;
        args[2] = now;
        args[3] = ttl;
        for (var i = 0; i < entries.Count; i++)
        {
            keys[i + 1] = KeysOf(entries[i].EngineId).Health;
            args[4 + (i * 2)] = entries[i].EngineId;
            args[5 + (i * 2)] = JsonSerializer.Serialize(entries[i], FleetJsonContext.Default.EngineHealthEntry);
        }

        try
        {
            await database.ScriptEvaluateAsync(FleetScripts.PublishHealth, keys, args)
                .WaitAsync(_options.RedisTimeout, cancellationToken).ConfigureAwait(false);
        }
        catch (Exception ex) when (!cancellationToken.IsCancellationRequested)
        {
            MarkUnavailable("health", ex);
        }
    }

    public async Task StartAsync(CancellationToken cancellationToken)
    {
        if (Interlocked.Exchange(ref _started, 1) == 1)
        {
            return;
        }

        if (!_connection.IsConfigured)
        {
            Log.LocalOnly(_logger);
            return;
        }

        var multiplexer = await _connection.ConnectAsync(cancellationToken).ConfigureAwait(false);
        if (multiplexer is null)
        {
            return;
        }

        multiplexer.ConnectionFailed += OnConnectionFailed;
        multiplexer.ConnectionRestored += OnConnectionRestored;
        _database = multiplexer.GetDatabase();
        try
        {
            await ReconcileAsync(_stopping.Token).ConfigureAwait(false);
        }
        catch (Exception ex) when (!cancellationToken.IsCancellationRequested)
        {
            MarkUnavailable("start", ex);
        }

        _reconcileLoop = Task.Run(() => ReconcileLoopAsync(_stopping.Token), CancellationToken.None);
        _successLoop = Task.Run(() => SuccessLoopAsync(_stopping.Token), CancellationToken.None);
    }

    public async Task StopAsync(CancellationToken cancellationToken)
    {
        if (_stopping.IsCancellationRequested)
        {
            return;
        }

        await _stopping.CancelAsync().ConfigureAwait(false);
        _successes.Writer.TryComplete();
        await Task.WhenAll(_reconcileLoop, _successLoop).WaitAsync(cancellationToken).ConfigureAwait(false);
        if (_connection.Multiplexer is { } multiplexer)
        {
            multiplexer.ConnectionFailed -= OnConnectionFailed;
            multiplexer.ConnectionRestored -= OnConnectionRestored;
            if (_subscribed)
            {
                try
                {
                    await multiplexer.GetSubscriber().UnsubscribeAsync(_channel, OnMessage).WaitAsync(_options.RedisTimeout, cancellationToken).ConfigureAwait(false);
                }
                catch (Exception ex) when (ex is RedisException or TimeoutException)
                {
                    _metrics.RedisError("unsubscribe");
                }
            }
        }
    }

    public async ValueTask DisposeAsync()
    {
        await StopAsync(CancellationToken.None).ConfigureAwait(false);
    }

    /// <summary>For containers disposed synchronously: stops the loops without waiting on Redis.</summary>
    public void Dispose()
    {
        if (!_stopping.IsCancellationRequested)
        {
            _stopping.Cancel();
            _successes.Writer.TryComplete();
        }
    }

    /// <summary>Pushes local changes Redis lacks, then reloads the whole fleet (also runs periodically).</summary>
    internal async Task ReconcileAsync(CancellationToken cancellationToken)
    {
        if (_database is not { } database)
        {
            return;
        }

        var wasAvailable = _available;
        if (!_subscribed && _connection.Multiplexer is { } multiplexer)
        {
            await multiplexer.GetSubscriber().SubscribeAsync(_channel, OnMessage).WaitAsync(_bulkTimeout, cancellationToken).ConfigureAwait(false);
            _subscribed = true;
        }

        var written = (long)await database.ScriptEvaluateAsync(FleetScripts.Push, [_enginesKey], PushArguments())
            .WaitAsync(_bulkTimeout, cancellationToken).ConfigureAwait(false);
        if (_catalog is { Engines.Count: > 0 } catalog)
        {
            var ids = new RedisValue[catalog.Engines.Count];
            for (var i = 0; i < ids.Length; i++)
            {
                ids[i] = catalog.Engines[i].Id;
            }

            await database.SetAddAsync(_enginesKey, ids).WaitAsync(_bulkTimeout, cancellationToken).ConfigureAwait(false);
        }

        var rows = (RedisResult[])(await database.ScriptEvaluateAsync(FleetScripts.Snapshot, [_enginesKey], [_prefix])
            .WaitAsync(_bulkTimeout, cancellationToken).ConfigureAwait(false))!;
        var now = Now();
        foreach (var row in rows)
        {
            ApplyRow((string?[])row!, now);
        }

        _available = true;
        if (!wasAvailable)
        {
            Log.Resynced(_logger, written, rows.Length);
        }
    }

    private async ValueTask<BreakerSnapshot> RemoteOutcomeAsync(IDatabase database, string engineId, bool failure, string? reason, CancellationToken cancellationToken)
    {
        try
        {
            await RecordRemoteAsync(database, engineId, failure, reason, cancellationToken).ConfigureAwait(false);
            return GetBreaker(engineId);
        }
        catch (Exception ex) when (!cancellationToken.IsCancellationRequested)
        {
            MarkUnavailable("record", ex);
            return LocalOutcome(engineId, failure, reason);
        }
    }

    private async Task RecordRemoteAsync(IDatabase database, string engineId, bool failure, string? reason, CancellationToken cancellationToken)
    {
        var keys = KeysOf(engineId);
        var result = await database.ScriptEvaluateAsync(
            FleetScripts.RecordOutcome,
            [keys.Breaker, _enginesKey],
            [
                engineId, _origin, Now(), failure ? "f" : "s", Clean(reason),
                _options.ConsecutiveFailures, _options.FailureRatio, _options.MinimumAttempts,
                (long)_options.FailureWindow.TotalMilliseconds, (long)_options.CoolDown.TotalMilliseconds, _channel.ToString(),
            ]).WaitAsync(_options.RedisTimeout, cancellationToken).ConfigureAwait(false);
        ApplyBreaker(engineId, BreakerRecord.Parse((string?[])result!, 0), _origin, Now());
    }

    private async Task SuccessLoopAsync(CancellationToken cancellationToken)
    {
        var batch = new List<string>(SuccessBatch);
        var tasks = new List<Task>(SuccessBatch);
        try
        {
            while (await _successes.Reader.WaitToReadAsync(cancellationToken).ConfigureAwait(false))
            {
                batch.Clear();
                while (batch.Count < SuccessBatch && _successes.Reader.TryRead(out var engineId))
                {
                    batch.Add(engineId);
                }

                if (_database is not { } database || !_available)
                {
                    foreach (var engineId in batch)
                    {
                        LocalOutcome(engineId, failure: false, reason: null);
                    }

                    continue;
                }

                tasks.Clear();
                foreach (var engineId in batch)
                {
                    tasks.Add(RecordRemoteAsync(database, engineId, failure: false, reason: null, cancellationToken));
                }

                try
                {
                    await Task.WhenAll(tasks).ConfigureAwait(false);
                }
                catch (Exception ex) when (!cancellationToken.IsCancellationRequested)
                {
                    MarkUnavailable("record", ex);
                    for (var i = 0; i < tasks.Count; i++)
                    {
                        if (!tasks[i].IsCompletedSuccessfully)
                        {
                            LocalOutcome(batch[i], failure: false, reason: null);
                        }
                    }
                }
            }
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
        }
    }

    private async Task ReconcileLoopAsync(CancellationToken cancellationToken)
    {
        while (!cancellationToken.IsCancellationRequested)
        {
            // While Redis is down, look again four times as often so a returning Redis is noticed quickly.
            var interval = _available ? _options.ReconcileInterval : TimeSpan.FromTicks(Math.Max(_options.ReconcileInterval.Ticks / 4, TimeSpan.FromMilliseconds(100).Ticks));
            try
            {
                using var delay = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
                var tick = Task.Delay(interval, _time, delay.Token);
                var wake = _wake.Reader.WaitToReadAsync(delay.Token).AsTask();
                await Task.WhenAny(tick, wake).ConfigureAwait(false);
                await delay.CancelAsync().ConfigureAwait(false);
                _wake.Reader.TryRead(out _);
                cancellationToken.ThrowIfCancellationRequested();
                await ReconcileAsync(cancellationToken).ConfigureAwait(false);
            }
            catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
            {
                return;
            }
            catch (Exception ex)
            {
                Log.ReconcileFailed(_logger, ex);
                MarkUnavailable("reconcile", ex);
            }
        }
    }

    private RedisValue[] PushArguments()
    {
        var breakers = _breakers.Where(b => b.Value.Record.Version > 0).ToList();
        var drains = _drains.Where(d => d.Value.Version > 0).ToList();
        var args = new List<RedisValue>(5 + (breakers.Count * 13) + (drains.Count * 4))
        {
            _channel.ToString(), _origin, Now(), _prefix, breakers.Count,
        };
        foreach (var (engineId, entry) in breakers)
        {
            args.Add(engineId);
            foreach (var value in entry.Record.ToValues())
            {
                args.Add(value);
            }
        }

        foreach (var (engineId, drain) in drains)
        {
            args.Add(engineId);
            args.Add(drain.Version);
            args.Add(drain.Draining ? "1" : "0");
            args.Add(drain.Reason);
        }

        return [.. args];
    }

    private void ApplyRow(string?[] row, long now)
    {
        var engineId = row[0];
        if (string.IsNullOrEmpty(engineId))
        {
            return;
        }

        if (!string.IsNullOrEmpty(row[2]))
        {
            ApplyBreaker(engineId, BreakerRecord.Parse(row, 1), null, now);
        }

        if (long.TryParse(row[13], NumberStyles.Integer, CultureInfo.InvariantCulture, out var drainVersion))
        {
            ApplyDrain(engineId, new DrainRecord(row[14] == "1", drainVersion, row[15] ?? string.Empty), null, now);
        }

        if (row[16] is { Length: > 0 } payload
            && long.TryParse(row[17], NumberStyles.Integer, CultureInfo.InvariantCulture, out var ttl) && ttl > 0
            && TryParseHealth(payload) is { } entry)
        {
            ApplyHealth(engineId, new HealthRecord(entry, now + ttl), null, now);
        }
    }

    private void OnMessage(RedisChannel channel, RedisValue message)
    {
        var text = (string?)message;
        if (text is null || text.Length < 2 || text[1] != '|')
        {
            Log.MalformedMessage(_logger, text?.Length ?? 0);
            return;
        }

        var now = Now();
        string[] parts;
        switch (text[0])
        {
            case 'B':
                parts = text.Split('|', 4 + BreakerRecord.FieldCount);
                if (parts.Length != 4 + BreakerRecord.FieldCount)
                {
                    break;
                }

                ObserveLag(parts[2], parts[3], now);
                ApplyBreaker(parts[1], BreakerRecord.Parse(parts, 4), parts[2], now);
                return;
            case 'D':
                parts = text.Split('|', 7);
                if (parts.Length != 7 || !long.TryParse(parts[4], NumberStyles.Integer, CultureInfo.InvariantCulture, out var version))
                {
                    break;
                }

                ObserveLag(parts[2], parts[3], now);
                ApplyDrain(parts[1], new DrainRecord(parts[5] == "1", version, parts[6]), parts[2], now);
                return;
            case 'H':
                parts = text.Split('|', 6);
                if (parts.Length != 6
                    || !long.TryParse(parts[4], NumberStyles.Integer, CultureInfo.InvariantCulture, out var ttl)
                    || TryParseHealth(parts[5]) is not { } entry)
                {
                    break;
                }

                ObserveLag(parts[2], parts[3], now);
                ApplyHealth(parts[1], new HealthRecord(entry, now + ttl), parts[2], now);
                return;
        }

        Log.MalformedMessage(_logger, text.Length);
    }

    private void ObserveLag(string origin, string at, long now)
    {
        if (origin != _origin && long.TryParse(at, NumberStyles.Integer, CultureInfo.InvariantCulture, out var sentAt))
        {
            _metrics.PropagationLag(TimeSpan.FromMilliseconds(now - sentAt));
        }
    }

    private BreakerSnapshot LocalOutcome(string engineId, bool failure, string? reason)
    {
        var now = Now();
        var clean = Clean(reason);
        while (true)
        {
            var current = _breakers.GetValueOrDefault(engineId);
            var record = current?.Record ?? BreakerRecord.Initial;
            var next = BreakerRules.RecordOutcome(record, failure, clean, now, _options);
            if (ReferenceEquals(next, record) || TrySwap(engineId, current, next, _origin, now))
            {
                return GetBreaker(engineId);
            }
        }
    }

    private bool LocalProbe(string engineId)
    {
        var now = Now();
        while (true)
        {
            var current = _breakers.GetValueOrDefault(engineId);
            var record = current?.Record ?? BreakerRecord.Initial;
            if (BreakerRules.BeginProbe(record, now) is not { } next)
            {
                return false;
            }

            var expires = now + (long)_options.ProbeLeaseTtl.TotalMilliseconds;
            if (_localLeases.TryGetValue(engineId, out var held))
            {
                if (held > now || !_localLeases.TryUpdate(engineId, expires, held))
                {
                    return false;
                }
            }
            else if (!_localLeases.TryAdd(engineId, expires))
            {
                return false;
            }

            if (ReferenceEquals(next, record) || TrySwap(engineId, current, next, _origin, now))
            {
                return true;
            }

            _localLeases.TryRemove(engineId, out _);
        }
    }

    private BreakerSnapshot LocalCompleteProbe(string engineId, bool success, string? reason)
    {
        var now = Now();
        var clean = Clean(reason);
        while (true)
        {
            var current = _breakers.GetValueOrDefault(engineId);
            var record = current?.Record ?? BreakerRecord.Initial;
            var next = BreakerRules.CompleteProbe(record, success, clean, now, _options);
            if (ReferenceEquals(next, record) || TrySwap(engineId, current, next, _origin, now))
            {
                return GetBreaker(engineId);
            }
        }
    }

    /// <summary>Applies a record from Redis or a message: never backwards; an equal version refreshes the counts.</summary>
    private bool ApplyBreaker(string engineId, BreakerRecord incoming, string? origin, long now)
    {
        while (true)
        {
            var current = _breakers.GetValueOrDefault(engineId);
            if (current is not null && (incoming.Version < current.Record.Version || incoming.Equals(current.Record)))
            {
                return false;
            }

            if (TrySwap(engineId, current, incoming, origin, now))
            {
                return true;
            }
        }
    }

    private bool TrySwap(string engineId, BreakerEntry? current, BreakerRecord next, string? origin, long now)
    {
        var entry = new BreakerEntry(engineId, next);
        var swapped = current is null ? _breakers.TryAdd(engineId, entry) : _breakers.TryUpdate(engineId, entry, current);
        if (!swapped)
        {
            return false;
        }

        var previous = current?.Record ?? BreakerRecord.Initial;
        if (previous.State != next.State || previous.Version != next.Version)
        {
            if (previous.State != next.State)
            {
                _metrics.Transition(engineId, new BreakerStateName(previous.State), new BreakerStateName(next.State));
                Log.BreakerTransition(_logger, engineId, previous.State, next.State, next.Reason);
            }

            Raise(new FleetChange(FleetChangeKind.Breaker, engineId, DateTimeOffset.FromUnixTimeMilliseconds(now), origin));
        }

        return true;
    }

    private bool ApplyDrain(string engineId, DrainRecord incoming, string? origin, long now)
    {
        while (true)
        {
            if (_drains.TryGetValue(engineId, out var current))
            {
                if (incoming.Version < current.Version || incoming.Equals(current))
                {
                    return incoming.Equals(current);
                }

                if (!_drains.TryUpdate(engineId, incoming, current))
                {
                    continue;
                }
            }
            else if (!_drains.TryAdd(engineId, incoming))
            {
                continue;
            }

            if (current is null || current.Draining != incoming.Draining || current.Reason != incoming.Reason)
            {
                Raise(new FleetChange(FleetChangeKind.Drain, engineId, DateTimeOffset.FromUnixTimeMilliseconds(now), origin));
            }

            return true;
        }
    }

    private void ApplyHealth(string engineId, HealthRecord incoming, string? origin, long now)
    {
        while (true)
        {
            if (_health.TryGetValue(engineId, out var current))
            {
                if (incoming.Entry.ObservedAt < current.Entry.ObservedAt || incoming.Equals(current))
                {
                    return;
                }

                if (!_health.TryUpdate(engineId, incoming, current))
                {
                    continue;
                }
            }
            else if (!_health.TryAdd(engineId, incoming))
            {
                continue;
            }

            if (current is null || !current.Entry.Equals(incoming.Entry))
            {
                Raise(new FleetChange(FleetChangeKind.Health, engineId, DateTimeOffset.FromUnixTimeMilliseconds(now), origin));
            }

            return;
        }
    }

    private void Raise(FleetChange change)
    {
        try
        {
            Changed?.Invoke(change);
        }
        catch (Exception ex)
        {
            Log.HandlerFailed(_logger, ex);
        }
    }

    private void MarkUnavailable(string operation, Exception? exception)
    {
        _metrics.RedisError(operation);
        if (_available)
        {
            _available = false;
            Log.RedisUnavailable(_logger, operation, exception);
        }
    }

    private void OnConnectionFailed(object? sender, ConnectionFailedEventArgs e) => MarkUnavailable("connection", e.Exception);

    private void OnConnectionRestored(object? sender, ConnectionFailedEventArgs e) => _wake.Writer.TryWrite(true);

    private static EngineHealthEntry? TryParseHealth(string payload)
    {
        try
        {
            return JsonSerializer.Deserialize(payload, FleetJsonContext.Default.EngineHealthEntry);
        }
        catch (JsonException)
        {
            return null;
        }
    }

    private static string Clean(string? reason) =>
        reason is null ? string.Empty : reason.Length <= 200 ? reason : reason[..200];

    private long Now() => _time.GetUtcNow().ToUnixTimeMilliseconds();

    private EngineKeys KeysOf(string engineId) =>
        _keys.TryGetValue(engineId, out var keys) ? keys : _keys.GetOrAdd(engineId, id => new EngineKeys(
            _prefix + "fleet:breaker:" + id,
            _prefix + "fleet:drain:" + id,
            _prefix + "fleet:health:" + id,
            _prefix + "fleet:probe:" + id));

    private sealed record EngineKeys(RedisKey Breaker, RedisKey Drain, RedisKey Health, RedisKey Probe);

    /// <summary>A record with its snapshots made once, so a read allocates nothing.</summary>
    private sealed class BreakerEntry
    {
        private readonly BreakerSnapshot _before;
        private readonly BreakerSnapshot _after;

        public BreakerEntry(string engineId, BreakerRecord record)
        {
            Record = record;
            _before = record.ToSnapshot(engineId, record.RetryAt - 1);
            _after = record.State == BreakerRecord.OpenState ? record.ToSnapshot(engineId, record.RetryAt) : _before;
        }

        public BreakerRecord Record { get; }

        public BreakerSnapshot Snapshot(long now) => now >= Record.RetryAt ? _after : _before;
    }
}
