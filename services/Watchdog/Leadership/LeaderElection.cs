using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace Platform.Watchdog.Leadership;

/// <summary>
/// Leader election through the lease: only the leader acts on engines, so two watchdog replicas never act on one
/// engine. The leader renews every <see cref="LeaseOptions.RenewInterval"/>; it counts itself leader only until
/// <c>(time the last successful renewal was sent) + Ttl − RenewInterval</c>, which ends before the lease can expire in
/// Redis and go to another replica, so leaderships never overlap even when Redis stops answering. Raises
/// <see cref="Changed"/> on every change. The leader publishes its gRPC address with the lease; every replica learns
/// the holder and its address at each tick, so a follower can forward operator actions.
/// </summary>
internal sealed partial class LeaderElection(
    ILeaseStore store,
    IOptions<LeaseOptions> options,
    TimeProvider timeProvider,
    ILogger<LeaderElection> logger,
    IAdvertisedGrpcAddress? advertised = null) : BackgroundService, Actions.ILeadership
{
    private readonly LeaseOptions _options = options.Value;
    private readonly Lock _lock = new();
    private bool _holds;
    private DateTimeOffset _validUntil;

    // What Changed last said: a lease that ran out between two ticks is announced at the next one.
    private bool _announced;

    public string ReplicaId { get; } = options.Value.ReplicaId ?? $"{Environment.MachineName}-{Environment.ProcessId}";

    /// <summary>True while this replica holds the lease and the lease cannot have passed to another.</summary>
    public bool IsLeader
    {
        get
        {
            lock (_lock)
            {
                return _holds && timeProvider.GetUtcNow() < _validUntil;
            }
        }
    }

    /// <summary>The holder seen at the last attempt (this replica's id when it leads), or null.</summary>
    public string? Holder => _seen?.Id;

    /// <summary>The gRPC address the holder published with the lease, as seen at the last attempt, or null.</summary>
    public string? LeaderAddress => _seen?.Address;

    /// <summary>The address this replica publishes when it leads (null: none known).</summary>
    public string? OwnAddress => advertised is null ? options.Value.GrpcAddress : advertised.Value;

    private volatile LeaseHolder? _seen;

    /// <summary>Raised with the new state (true: became leader) and the reason.</summary>
    public event Action<bool, string>? Changed;

    /// <summary>One renewal or acquisition attempt (the loop calls it every interval; tests call it directly).</summary>
    public async Task TickAsync(CancellationToken cancellationToken)
    {
        var wasLeader = IsLeader;
        var sentAt = timeProvider.GetUtcNow();
        var address = OwnAddress;
        bool acquired;
        string? error = null;
        try
        {
            acquired = wasLeader
                ? await store.RenewAsync(ReplicaId, address, _options.Ttl, cancellationToken).ConfigureAwait(false)
                : await store.TryAcquireAsync(ReplicaId, address, _options.Ttl, cancellationToken).ConfigureAwait(false);
            _seen = acquired ? new LeaseHolder(ReplicaId, address) : await store.HolderAsync(cancellationToken).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is not OperationCanceledException || !cancellationToken.IsCancellationRequested)
        {
            acquired = false;
            error = ex.GetType().Name;
        }

        lock (_lock)
        {
            if (acquired)
            {
                _holds = true;
                _validUntil = sentAt + _options.Ttl - _options.RenewInterval;
            }
            else if (error is null)
            {
                // Redis answered: someone else holds it.
                _holds = false;
            }

            // On an error the lease is kept until _validUntil: a renewal may succeed next time.
        }

        var isLeader = IsLeader;
        if (isLeader != _announced)
        {
            _announced = isLeader;
            var reason = isLeader
                ? $"{ReplicaId} took the leader lease ({(store.Shared ? "Redis" : "in process: no Redis configured")})"
                : error is null
                    ? $"{ReplicaId} lost the leader lease to {Holder ?? "nobody"}"
                    : $"{ReplicaId} could not renew the leader lease ({error}); stepping down before it can expire";
            LogLeadership(logger, isLeader, reason);
            Changed?.Invoke(isLeader, reason);
        }
    }

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        while (!stoppingToken.IsCancellationRequested)
        {
            await TickAsync(stoppingToken).ConfigureAwait(false);
            try
            {
                await Task.Delay(_options.RenewInterval, timeProvider, stoppingToken).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                break;
            }
        }
    }

    public override async Task StopAsync(CancellationToken cancellationToken)
    {
        await base.StopAsync(cancellationToken).ConfigureAwait(false);
        if (IsLeader)
        {
            try
            {
                // Hand over at once instead of making the next leader wait out the TTL.
                await store.ReleaseAsync(ReplicaId, cancellationToken).ConfigureAwait(false);
            }
            catch (Exception ex) when (ex is not OperationCanceledException)
            {
                LogReleaseFailed(logger, ex.GetType().Name);
            }

            lock (_lock)
            {
                _holds = false;
            }

            _announced = false;
            Changed?.Invoke(false, $"{ReplicaId} released the leader lease (stopping)");
        }
    }

    [LoggerMessage(EventId = 5201, Level = LogLevel.Information, Message = "Leadership: leader={Leader} ({Reason})")]
    private static partial void LogLeadership(ILogger logger, bool leader, string reason);

    [LoggerMessage(EventId = 5202, Level = LogLevel.Warning, Message = "Releasing the leader lease failed ({Error}); it expires on its own")]
    private static partial void LogReleaseFailed(ILogger logger, string error);
}
