using Microsoft.Extensions.Options;
using Platform.Fleet.Redis;
using Platform.Fleet.State;
using StackExchange.Redis;

namespace Platform.Watchdog.Leadership;

/// <summary>Who holds the lease, and the gRPC address it published with it (null: none published).</summary>
internal sealed record LeaseHolder(string Id, string? Address);

/// <summary>
/// Where the lease lives. Every call is atomic; false means "not yours" (another holder, or none). Acquire and renew
/// also publish the holder's gRPC address (null: none), which lives exactly as long as the lease.
/// </summary>
internal interface ILeaseStore
{
    /// <summary>True when Redis (shared by every replica) holds the lease; false: in-process only (a single replica).</summary>
    bool Shared { get; }

    Task<bool> TryAcquireAsync(string holder, string? address, TimeSpan ttl, CancellationToken cancellationToken);

    Task<bool> RenewAsync(string holder, string? address, TimeSpan ttl, CancellationToken cancellationToken);

    Task ReleaseAsync(string holder, CancellationToken cancellationToken);

    Task<LeaseHolder?> HolderAsync(CancellationToken cancellationToken);
}

/// <summary>
/// The lease in Redis: key <c>{Fleet:State:KeyPrefix}watchdog:leader</c> (default <c>platform:watchdog:leader</c>), a
/// string holding the holder's replica id with a PX expiry, and <c>...watchdog:leader:grpc</c>, the holder's gRPC
/// address with the same expiry (followers forward operator actions there). Acquire, renew and release are Lua scripts:
/// acquire sets the key only when it is free (or already the caller's), renew and release act only while it holds the
/// caller's id, so a replica can never extend or drop a lease that expired and went to another. Without a Redis
/// connection string the lease is in-process.
/// </summary>
internal sealed class RedisLeaseStore(FleetRedisConnection connection, IOptions<FleetStateOptions> fleetOptions) : ILeaseStore
{
    // KEYS: lease, address; ARGV: holder, ttl ms, address ('' for none), acquire (1) or renew only (0).
    private const string AcquireOrRenewScript = """
        local current = redis.call('GET', KEYS[1])
        if current == ARGV[1] then
          redis.call('PEXPIRE', KEYS[1], ARGV[2])
        elseif current == false and ARGV[4] == '1' then
          redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
        else
          return 0
        end
        if ARGV[3] == '' then
          redis.call('DEL', KEYS[2])
        else
          redis.call('SET', KEYS[2], ARGV[3], 'PX', ARGV[2])
        end
        return 1
        """;

    private const string ReleaseScript = """
        if redis.call('GET', KEYS[1]) == ARGV[1] then
          return redis.call('DEL', KEYS[1], KEYS[2])
        end
        return 0
        """;

    private readonly RedisKey _key = fleetOptions.Value.KeyPrefix + "watchdog:leader";
    private readonly RedisKey _addressKey = fleetOptions.Value.KeyPrefix + "watchdog:leader:grpc";

    public bool Shared => true;

    public string Key => _key.ToString();

    public string AddressKey => _addressKey.ToString();

    public Task<bool> TryAcquireAsync(string holder, string? address, TimeSpan ttl, CancellationToken cancellationToken) =>
        AcquireOrRenewAsync(holder, address, ttl, acquire: true, cancellationToken);

    public Task<bool> RenewAsync(string holder, string? address, TimeSpan ttl, CancellationToken cancellationToken) =>
        AcquireOrRenewAsync(holder, address, ttl, acquire: false, cancellationToken);

    public async Task ReleaseAsync(string holder, CancellationToken cancellationToken)
    {
        var db = await DatabaseAsync(cancellationToken).ConfigureAwait(false);
        await db.ScriptEvaluateAsync(ReleaseScript, [_key, _addressKey], [holder]).ConfigureAwait(false);
    }

    public async Task<LeaseHolder?> HolderAsync(CancellationToken cancellationToken)
    {
        var db = await DatabaseAsync(cancellationToken).ConfigureAwait(false);
        var values = await db.StringGetAsync([_key, _addressKey]).ConfigureAwait(false);
        return values[0].IsNull ? null : new LeaseHolder(values[0].ToString(), values[1].IsNullOrEmpty ? null : values[1].ToString());
    }

    private async Task<bool> AcquireOrRenewAsync(string holder, string? address, TimeSpan ttl, bool acquire, CancellationToken cancellationToken)
    {
        var db = await DatabaseAsync(cancellationToken).ConfigureAwait(false);
        var result = await db.ScriptEvaluateAsync(
            AcquireOrRenewScript,
            [_key, _addressKey],
            [holder, (long)ttl.TotalMilliseconds, address ?? "", acquire ? "1" : "0"]).ConfigureAwait(false);
        return (long)result == 1;
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
    private string? _address;
    private DateTimeOffset _expires;

    public bool Shared => false;

    /// <summary>When set, every call fails as an unreachable Redis would.</summary>
    public bool Unreachable { get; set; }

    public Task<bool> TryAcquireAsync(string holder, string? address, TimeSpan ttl, CancellationToken cancellationToken)
    {
        lock (_lock)
        {
            ThrowIfUnreachable();
            var now = timeProvider.GetUtcNow();
            if (_holder is null || _expires <= now || _holder == holder)
            {
                _holder = holder;
                _address = address;
                _expires = now + ttl;
                return Task.FromResult(true);
            }

            return Task.FromResult(false);
        }
    }

    public Task<bool> RenewAsync(string holder, string? address, TimeSpan ttl, CancellationToken cancellationToken)
    {
        lock (_lock)
        {
            ThrowIfUnreachable();
            var now = timeProvider.GetUtcNow();
            if (_holder == holder && _expires > now)
            {
                _address = address;
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

    public Task<LeaseHolder?> HolderAsync(CancellationToken cancellationToken)
    {
        lock (_lock)
        {
            ThrowIfUnreachable();
            return Task.FromResult(_holder is not null && _expires > timeProvider.GetUtcNow() ? new LeaseHolder(_holder, _address) : null);
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
