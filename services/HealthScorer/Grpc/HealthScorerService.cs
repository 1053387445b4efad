using Grpc.Core;
using Platform.Health.V1;
using Platform.HealthScorer.Publishing;

namespace Platform.HealthScorer.Grpc;

/// <summary>
/// <c>platform.health.v1.HealthScorer</c>: the latest fleet snapshot, and a stream of them. Before the first scrape
/// round has ended both wait for it (bounded by the caller's deadline). Pool filters keep the snapshot's sequence
/// and time, with only the matching engines and pools.
/// </summary>
internal sealed class HealthScorerService(FleetSnapshotHub hub) : Health.V1.HealthScorer.HealthScorerBase
{
    public override async Task<FleetSnapshot> GetFleet(GetFleetRequest request, ServerCallContext context)
    {
        await hub.FirstSnapshot.WaitAsync(context.CancellationToken).ConfigureAwait(false);
        return Filter(hub.Latest!, request.Pools);
    }

    public override async Task WatchFleet(WatchFleetRequest request, IServerStreamWriter<FleetSnapshot> responseStream, ServerCallContext context)
    {
        var cancellationToken = context.CancellationToken;
        using var subscription = hub.Subscribe();
        try
        {
            await foreach (var snapshot in subscription.Reader.ReadAllAsync(cancellationToken).ConfigureAwait(false))
            {
                await responseStream.WriteAsync(Filter(snapshot, request.Pools), cancellationToken).ConfigureAwait(false);
            }
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            // The caller left (or its deadline passed): nothing to answer.
        }
    }

    internal static FleetSnapshot Filter(FleetSnapshot snapshot, IReadOnlyCollection<string> pools)
    {
        if (pools.Count == 0)
        {
            return snapshot;
        }

        var filtered = new FleetSnapshot { Sequence = snapshot.Sequence, ProducedAt = snapshot.ProducedAt };
        foreach (var engine in snapshot.Engines)
        {
            if (pools.Contains(engine.Pool))
            {
                filtered.Engines.Add(engine);
            }
        }

        foreach (var pool in snapshot.Pools)
        {
            if (pools.Contains(pool.Pool))
            {
                filtered.Pools.Add(pool);
            }
        }

        return filtered;
    }
}
