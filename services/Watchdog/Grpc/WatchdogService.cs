using Google.Protobuf.WellKnownTypes;
using Grpc.Core;
using Platform.Watchdog.Actions;
using Platform.Watchdog.Events;
using Platform.Watchdog.V1;

namespace Platform.Watchdog.Grpc;

/// <summary>
/// <c>platform.watchdog.v1.Watchdog</c>: events (ListEvents, WatchEvents), status, and the operators' actions (Drain,
/// Undrain, Restart: admin key required). Bad input is INVALID_ARGUMENT, an unknown engine NOT_FOUND, a refusal of the
/// disruption budget FAILED_PRECONDITION. On a follower, operator actions are forwarded to the leader
/// (<see cref="LeaderForwarder"/>: once, with the caller's key and a deadline); UNAVAILABLE naming the leader when it
/// cannot be reached.
/// </summary>
internal sealed class WatchdogService(EngineCoordinator coordinator, EventLog events, ILeadership leadership, AdminKey admin, LeaderForwarder forwarder)
    : V1.Watchdog.WatchdogBase
{
    public const int MaxReasonLength = 512;

    public override Task<ListEventsResponse> ListEvents(ListEventsRequest request, ServerCallContext context)
    {
        if (request.Limit is < 0 or > EventLog.Capacity)
        {
            throw Invalid($"limit must be within 0..{EventLog.Capacity} (0 means 100); got {request.Limit}.");
        }

        var response = new ListEventsResponse();
        response.Events.AddRange(events.Recent(request.Limit == 0 ? 100 : request.Limit, request.EngineId));
        return Task.FromResult(response);
    }

    public override async Task WatchEvents(WatchEventsRequest request, IServerStreamWriter<Event> responseStream, ServerCallContext context)
    {
        if (request.Replay is < 0 or > EventLog.Capacity)
        {
            throw Invalid($"replay must be within 0..{EventLog.Capacity}; got {request.Replay}.");
        }

        var cancellationToken = context.CancellationToken;
        using var subscription = events.Subscribe(request.Replay);
        try
        {
            await foreach (var e in subscription.Reader.ReadAllAsync(cancellationToken).ConfigureAwait(false))
            {
                await responseStream.WriteAsync(e, cancellationToken).ConfigureAwait(false);
            }
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            // The caller left.
        }
    }

    public override async Task<EngineActionResponse> Drain(EngineActionRequest request, ServerCallContext context)
    {
        admin.Demand(context);
        Validate(request);
        var result = await coordinator.DrainAsync(request.EngineId, Reason(request), request.Force, context.CancellationToken).ConfigureAwait(false);
        return result.Refusal == OperatorRefusal.NotLeader
            ? await forwarder.ForwardAsync(LeaderForwarder.Action.Drain, request, context, result.Detail).ConfigureAwait(false)
            : Answer(result);
    }

    public override async Task<EngineActionResponse> Undrain(EngineActionRequest request, ServerCallContext context)
    {
        admin.Demand(context);
        Validate(request);
        var result = await coordinator.UndrainAsync(request.EngineId, Reason(request), context.CancellationToken).ConfigureAwait(false);
        return result.Refusal == OperatorRefusal.NotLeader
            ? await forwarder.ForwardAsync(LeaderForwarder.Action.Undrain, request, context, result.Detail).ConfigureAwait(false)
            : Answer(result);
    }

    public override async Task<EngineActionResponse> Restart(EngineActionRequest request, ServerCallContext context)
    {
        admin.Demand(context);
        Validate(request);
        var result = coordinator.Restart(request.EngineId, Reason(request), request.Force);
        return result.Refusal == OperatorRefusal.NotLeader
            ? await forwarder.ForwardAsync(LeaderForwarder.Action.Restart, request, context, result.Detail).ConfigureAwait(false)
            : Answer(result);
    }

    public override Task<GetStatusResponse> GetStatus(GetStatusRequest request, ServerCallContext context)
    {
        var response = new GetStatusResponse { Leader = leadership.IsLeader, LeaderId = leadership.Holder ?? "", LeaderAddress = leadership.LeaderAddress ?? "" };
        foreach (var s in coordinator.Status())
        {
            var status = new V1.EngineStatus
            {
                EngineId = s.EngineId,
                Pool = s.Pool,
                State = s.State switch
                {
                    EngineActionState.Draining => EngineState.Draining,
                    EngineActionState.Restarting => EngineState.Restarting,
                    EngineActionState.Warming => EngineState.Warming,
                    EngineActionState.Escalated => EngineState.Escalated,
                    _ => s.Draining ? EngineState.Draining : EngineState.Serving,
                },
                RestartsLastHour = s.RestartsLastHour,
            };
            if (s.NotBefore is { } notBefore)
            {
                status.NextActionNotBefore = Timestamp.FromDateTimeOffset(notBefore);
            }

            response.Engines.Add(status);
        }

        return Task.FromResult(response);
    }

    private static void Validate(EngineActionRequest request)
    {
        if (string.IsNullOrWhiteSpace(request.EngineId))
        {
            throw Invalid("engine_id is required.");
        }

        if (request.EngineId.Length > 253)
        {
            throw Invalid("engine_id is longer than 253 characters.");
        }

        if (request.Reason.Length > MaxReasonLength)
        {
            throw Invalid($"reason is longer than {MaxReasonLength} characters.");
        }

        foreach (var c in request.Reason)
        {
            if (char.IsControl(c))
            {
                throw Invalid("reason holds control characters.");
            }
        }
    }

    private static string Reason(EngineActionRequest request) =>
        string.IsNullOrWhiteSpace(request.Reason) ? "operator request" : request.Reason.Trim();

    private static EngineActionResponse Answer(OperatorResult result) => result.Refusal switch
    {
        OperatorRefusal.None => new EngineActionResponse { Event = result.Event },
        OperatorRefusal.UnknownEngine => throw new RpcException(new Status(StatusCode.NotFound, result.Detail)),
        OperatorRefusal.NotLeader => throw new RpcException(new Status(StatusCode.Unavailable, result.Detail)),
        OperatorRefusal.StateUnavailable => throw new RpcException(new Status(StatusCode.Unavailable, result.Detail)),
        _ => throw new RpcException(new Status(StatusCode.FailedPrecondition, result.Detail)),
    };

    private static RpcException Invalid(string detail) => new(new Status(StatusCode.InvalidArgument, detail));
}
