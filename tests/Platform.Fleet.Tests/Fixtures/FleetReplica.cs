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
        options ??= new FleetStateOptions();
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
