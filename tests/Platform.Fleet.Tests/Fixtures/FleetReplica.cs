using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using Platform.Fleet.Redis;
using Platform.Fleet.State;

namespace Platform.Fleet.Tests.Fixtures;

/// <summary>One "gateway replica" of the fleet state: its own ConnectionMultiplexer on the shared Redis.</summary>
internal sealed class FleetReplica : IAsyncDisposable
{
    private readonly FleetRedisConnection _connection;

    private FleetReplica(FleetRedisConnection connection, RedisFleetState state)
    {
        _connection = connection;
        State = state;
    }

    public RedisFleetState State { get; }

    public static async Task<FleetReplica> StartAsync(RedisServer? redis, TimeProvider time, FleetStateOptions? options = null, string? name = null)
    {
        // Sharing tests are about what replicas see of each other, not about Redis timeouts: on a loaded CI machine the
        // first script call can pass the 250 ms default, and the replica then (correctly) keeps the change local until
        // its next reconcile, which a test reading right after would see as a lost change.
        options ??= new FleetStateOptions { RedisTimeout = TimeSpan.FromSeconds(3) };
        options.ReplicaId = name ?? "replica-" + Guid.NewGuid().ToString("N")[..8];
        var connection = new FleetRedisConnection(redis?.ConnectionString, NullLogger<FleetRedisConnection>.Instance);
        var state = new RedisFleetState(Options.Create(options), connection, time, NullLogger<RedisFleetState>.Instance, new FleetMetrics());
        await state.StartAsync(TestContext.Current.CancellationToken);
        return new FleetReplica(connection, state);
    }

    public async ValueTask DisposeAsync()
    {
        await State.DisposeAsync();
        await _connection.DisposeAsync();
    }
}
