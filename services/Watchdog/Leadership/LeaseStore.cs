using Microsoft.Extensions.Options;
using Platform.Fleet.Redis;
using Platform.Fleet.State;
using StackExchange.Redis;

namespace Platform.Watchdog.Leadership;

/// <summary>Where the lease lives. Every call is atomic; false means "not yours" (another holder, or none).</summary>
internal interface ILeaseStore
{
    /// <summary>True when Redis (shared by every replica) holds the lease; false: in-process only (a single replica).</summary>
    bool Shared { get; }

    Task<bool> TryAcquireAsync(string holder, TimeSpan ttl, CancellationToken cancellationToken);

    Task<bool> RenewAsync(string holder, TimeSpan ttl, CancellationToken cancellationToken);

    Task ReleaseAsync(string holder, CancellationToken cancellationToken);

    Task<string?> HolderAsync(CancellationToken cancellationToken);
}

/// <summary>
/// The lease in Redis: key <c>{Fleet:State:KeyPrefix}watchdog:leader</c> (default <c>platform:watchdog:leader</c>), a
/// string holding the holder's replica id with a PX expiry. Acquire is <c>SET NX PX</c>; renew and release are Lua
/// scripts that act only when the key still holds the caller's id, so a replica can never extend or drop a lease that
/// expired and went to another. Without a Redis connection string the lease is in-process.
/// </summary>
internal sealed class RedisLeaseStore(FleetRedisConnection connection, IOptions<FleetStateOptions> fleetOptions) : ILeaseStore
{
    private const string RenewScript = """
        if redis.call('GET', KEYS[1]) == ARGV[1] then
          return redis.call('PEXPIRE', KEYS[1], ARGV[2])
        end
        return 0
        """;

    private const string ReleaseScript = """
        if redis.call('GET', KEYS[1]) == ARGV[1] then
          return redis.call('DEL', KEYS[1])
        end
        return 0
        """;

    private readonly RedisKey _key = fleetOptions.Value.KeyPrefix + "watchdog:leader";

    public bool Shared => true;

    public string Key => _key.ToString();

    public async Task<bool> TryAcquireAsync(string holder, TimeSpan ttl, CancellationToken cancellationToken)
    {
        var db = await DatabaseAsync(cancellationToken).ConfigureAwait(false);
        if (await db.StringSetAsync(_key, holder, ttl, When.NotExists).ConfigureAwait(false))
        {
            return true;
        }

        // Ours already (a restart of the loop, or a lost answer): renewing says so.
        return await RenewAsync(holder, ttl, cancellationToken).ConfigureAwait(false);
    }

    public async Task<bool> RenewAsync(string holder, TimeSpan ttl, CancellationToken cancellationToken)
    {
        var db = await DatabaseAsync(cancellationToken).ConfigureAwait(false);
        var result = await db.ScriptEvaluateAsync(RenewScript, [_key], [holder, (long)ttl.TotalMilliseconds]).ConfigureAwait(false);
        return (long)result == 1;
    }

    public async Task ReleaseAsync(string holder, CancellationToken cancellationToken)
    {
        var db = await DatabaseAsync(cancellationToken).ConfigureAwait(false);
        await db.ScriptEvaluateAsync(ReleaseScript, [_key], [holder]).ConfigureAwait(false);
    }

    public async Task<string?> HolderAsync(CancellationToken cancellationToken)
    {
        var db = await DatabaseAsync(cancellationToken).ConfigureAwait(false);
        return await db.StringGetAsync(_key).ConfigureAwait(false);
    }

    private async Task<IDatabase> DatabaseAsync(CancellationToken cancellationToken)
    {
        var multiplexer = await connection.ConnectAsync(cancellationToken).ConfigureAwait(false)
            ?? throw new InvalidOperationException("no Redis connection string");
        return multiplexer.GetDatabase();
    }
}

/// <summary>
/// An in-process lease, for a single replica without Redis, and for unit tests (two elections sharing one store on a
/// fake clock behave as two replicas sharing Redis).
/// </summary>
internal sealed class InMemoryLeaseStore(TimeProvider timeProvider) : ILeaseStore
{
    private readonly Lock _lock = new();
    private string? _holder;
    private DateTimeOffset _expires;

    public bool Shared => false;

    /// <summary>When set, every call fails as an unreachable Redis would.</summary>
    public bool Unreachable { get; set; }

    public Task<bool> TryAcquireAsync(string holder, TimeSpan ttl, CancellationToken cancellationToken)
    {
        lock (_lock)
        {
            ThrowIfUnreachable();
            var now = timeProvider.GetUtcNow();
            if (_holder is null || _expires <= now || _holder == holder)
            {
                _holder = holder;
                _expires = now + ttl;
                return Task.FromResult(true);
            }

            return Task.FromResult(false);
        }
    }

    public Task<bool> RenewAsync(string holder, TimeSpan ttl, CancellationToken cancellationToken)
    {
        lock (_lock)
        {
            ThrowIfUnreachable();
            var now = timeProvider.GetUtcNow();
            if (_holder == holder && _expires > now)
            {
                _expires = now + ttl;
                return Task.FromResult(true);
            }

            return Task.FromResult(false);
        }
    }

    public Task ReleaseAsync(string holder, CancellationToken cancellationToken)
    {
        lock (_lock)
        {
            ThrowIfUnreachable();
            if (_holder == holder)
            {
                _holder = null;
            }

            return Task.CompletedTask;
        }
    }

    public Task<string?> HolderAsync(CancellationToken cancellationToken)
    {
        lock (_lock)
        {
            ThrowIfUnreachable();
            return Task.FromResult(_holder is not null && _expires > timeProvider.GetUtcNow() ? _holder : null);
        }
    }

    private void ThrowIfUnreachable()
    {
        if (Unreachable)
        {
            throw new TimeoutException("lease store unreachable (test)");
        }
    }
}
