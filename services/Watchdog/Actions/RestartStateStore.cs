using System.Globalization;
using Microsoft.Extensions.Options;
using Platform.Fleet.Redis;
using Platform.Fleet.State;
using StackExchange.Redis;

namespace Platform.Watchdog.Actions;

/// <summary>
/// What the next leader must know about one engine so a failover cannot cause a restart loop: the restarts of the last
/// hour (back-off and restart budget), where the procedure was (a restart the old leader requested may still be
/// running), and who drained it.
/// </summary>
internal sealed record PersistedEngineState(
    IReadOnlyList<DateTimeOffset> Restarts,
    EngineActionState State,
    DateTimeOffset StateSince,
    bool WatchdogDrained,
    bool OperatorDrained,
    string By);

/// <summary>Where the leader keeps <see cref="PersistedEngineState"/> for its successor.</summary>
internal interface IRestartStateStore
{
    /// <summary>True when every replica reads the same store (Redis); false: in-process (a single replica).</summary>
    bool Shared { get; }

    /// <summary>The state of every engine that has one; throws when the store cannot be read.</summary>
    Task<IReadOnlyDictionary<string, PersistedEngineState>> LoadAsync(IReadOnlyCollection<string> engineIds, CancellationToken cancellationToken);

    /// <summary>
    /// Writes one engine's state, only while <paramref name="leaderId"/> holds the leader lease (false otherwise: a
    /// replica that lost the lease cannot overwrite its successor's view). Throws when the store cannot be reached.
    /// </summary>
    Task<bool> SaveAsync(string engineId, PersistedEngineState state, string leaderId, CancellationToken cancellationToken);
}

/// <summary>
/// The state in Redis, next to the leader lease: hash <c>{Fleet:State:KeyPrefix}watchdog:engine:{engine}</c>
/// (<c>platform:watchdog:engine:enginegeneral-1</c>) with <c>restarts</c> (Unix ms of the restarts of the last hour,
/// comma-separated), <c>state</c> (<c>serving</c>, <c>draining</c>, <c>restarting</c>, <c>warming</c>,
/// <c>escalated</c>), <c>since</c> (Unix ms), <c>wd</c>/<c>od</c> (drained by the watchdog / by an operator, 0 or 1) and
/// <c>by</c> (the writing replica). Written by a Lua script that first checks that the lease key holds the writer's id
/// (fencing), and given a PX expiry of <see cref="BudgetOptions.StateTtl"/> at every write, so nothing lives forever.
/// </summary>
internal sealed class RedisRestartStateStore(FleetRedisConnection connection, IOptions<FleetStateOptions> fleetOptions, IOptions<BudgetOptions> budget)
    : IRestartStateStore
{
    private const string SaveScript = """
        if redis.call('GET', KEYS[1]) ~= ARGV[1] then
          return 0
        end
        redis.call('HSET', KEYS[2], 'restarts', ARGV[3], 'state', ARGV[4], 'since', ARGV[5], 'wd', ARGV[6], 'od', ARGV[7], 'by', ARGV[1])
        redis.call('PEXPIRE', KEYS[2], ARGV[2])
        return 1
        """;

    private readonly string _prefix = fleetOptions.Value.KeyPrefix;

    public bool Shared => true;

    public RedisKey KeyOf(string engineId) => _prefix + "watchdog:engine:" + engineId;

    public async Task<IReadOnlyDictionary<string, PersistedEngineState>> LoadAsync(IReadOnlyCollection<string> engineIds, CancellationToken cancellationToken)
    {
        var db = await DatabaseAsync(cancellationToken).ConfigureAwait(false);
        var reads = engineIds.Select(id => (Id: id, Read: db.HashGetAllAsync(KeyOf(id)))).ToList();
        await Task.WhenAll(reads.Select(r => r.Read)).WaitAsync(cancellationToken).ConfigureAwait(false);
        var states = new Dictionary<string, PersistedEngineState>(StringComparer.Ordinal);
        foreach (var (id, read) in reads)
        {
            var fields = read.Result.ToDictionary(e => e.Name.ToString(), e => e.Value.ToString(), StringComparer.Ordinal);
            if (fields.Count > 0)
            {
                states[id] = Parse(fields);
            }
        }

        return states;
    }

    public async Task<bool> SaveAsync(string engineId, PersistedEngineState state, string leaderId, CancellationToken cancellationToken)
    {
        var db = await DatabaseAsync(cancellationToken).ConfigureAwait(false);
        RedisKey[] keys = [_prefix + "watchdog:leader", KeyOf(engineId)];
        RedisValue[] args =
        [
            leaderId,
            (long)budget.Value.StateTtl.TotalMilliseconds,
            string.Join(',', state.Restarts.Select(t => t.ToUnixTimeMilliseconds().ToString(CultureInfo.InvariantCulture))),
            StateName(state.State),
            state.StateSince.ToUnixTimeMilliseconds(),
            state.WatchdogDrained ? 1 : 0,
            state.OperatorDrained ? 1 : 0,
        ];
        var result = await db.ScriptEvaluateAsync(SaveScript, keys, args).WaitAsync(cancellationToken).ConfigureAwait(false);
        return (long)result == 1;
    }

    public static string StateName(EngineActionState state) => state switch
    {
        EngineActionState.Draining => "draining",
        EngineActionState.Restarting => "restarting",
        EngineActionState.Warming => "warming",
        EngineActionState.Escalated => "escalated",
        _ => "serving",
    };

    private static PersistedEngineState Parse(Dictionary<string, string> fields)
    {
        var restarts = new List<DateTimeOffset>();
        if (fields.TryGetValue("restarts", out var list))
        {
            foreach (var item in list.Split(',', StringSplitOptions.RemoveEmptyEntries))
            {
                if (long.TryParse(item, NumberStyles.Integer, CultureInfo.InvariantCulture, out var ms))
                {
                    restarts.Add(DateTimeOffset.FromUnixTimeMilliseconds(ms));
                }
            }
        }

        var state = fields.GetValueOrDefault("state") switch
        {
            "draining" => EngineActionState.Draining,
            "restarting" => EngineActionState.Restarting,
            "warming" => EngineActionState.Warming,
            "escalated" => EngineActionState.Escalated,
            _ => EngineActionState.Serving,
        };
        var since = long.TryParse(fields.GetValueOrDefault("since"), NumberStyles.Integer, CultureInfo.InvariantCulture, out var s)
            ? DateTimeOffset.FromUnixTimeMilliseconds(s)
            : DateTimeOffset.UnixEpoch;
        return new PersistedEngineState(restarts, state, since, fields.GetValueOrDefault("wd") == "1", fields.GetValueOrDefault("od") == "1", fields.GetValueOrDefault("by") ?? "");
    }

    private async Task<IDatabase> DatabaseAsync(CancellationToken cancellationToken)
    {
        var multiplexer = await connection.ConnectAsync(cancellationToken).ConfigureAwait(false)
            ?? throw new InvalidOperationException("no Redis connection string");
        return multiplexer.GetDatabase();
    }
}

/// <summary>In-process state (no Redis configured: one replica, nothing to hand over); also a fake for unit tests.</summary>
internal sealed class InMemoryRestartStateStore : IRestartStateStore
{
    private readonly Lock _lock = new();
    private readonly Dictionary<string, PersistedEngineState> _states = new(StringComparer.Ordinal);

    public bool Shared { get; init; }

    /// <summary>When set, every call fails as an unreachable Redis would.</summary>
    public bool Unreachable { get; set; }

    /// <summary>When set, only this replica may write (the fencing of the Redis store).</summary>
    public string? LeaseHolder { get; set; }

    public IReadOnlyDictionary<string, PersistedEngineState> States
    {
        get
        {
            lock (_lock)
            {
                return new Dictionary<string, PersistedEngineState>(_states, StringComparer.Ordinal);
            }
        }
    }

    public Task<IReadOnlyDictionary<string, PersistedEngineState>> LoadAsync(IReadOnlyCollection<string> engineIds, CancellationToken cancellationToken)
    {
        lock (_lock)
        {
            ThrowIfUnreachable();
            return Task.FromResult<IReadOnlyDictionary<string, PersistedEngineState>>(
                _states.Where(s => engineIds.Contains(s.Key)).ToDictionary(s => s.Key, s => s.Value, StringComparer.Ordinal));
        }
    }

    public Task<bool> SaveAsync(string engineId, PersistedEngineState state, string leaderId, CancellationToken cancellationToken)
    {
        lock (_lock)
        {
            ThrowIfUnreachable();
            if (LeaseHolder is { } holder && holder != leaderId)
            {
                return Task.FromResult(false);
            }

            _states[engineId] = state;
            return Task.FromResult(true);
        }
    }

    private void ThrowIfUnreachable()
    {
        if (Unreachable)
        {
            throw new TimeoutException("restart state store unreachable (test)");
        }
    }
}
