using System.Collections.Concurrent;
using System.ComponentModel.DataAnnotations;
using System.Globalization;
using Grpc.Core;
using Grpc.Net.Client;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Platform.Watchdog.Actions;
using Platform.Watchdog.V1;

namespace Platform.Watchdog.Grpc;

/// <summary>Forwarding of operator actions from a follower to the leader (section <c>Watchdog:Forwarding</c>).</summary>
internal sealed class ForwardingOptions
{
    public const string SectionName = "Watchdog:Forwarding";

    /// <summary>False: a follower answers UNAVAILABLE naming the leader instead of forwarding.</summary>
    public bool Enabled { get; set; } = true;

    /// <summary>The longest a forwarded call may take (the caller's own deadline applies when it is sooner).</summary>
    [Range(typeof(TimeSpan), "00:00:00.100", "00:01:00")]
    public TimeSpan Timeout { get; set; } = TimeSpan.FromSeconds(5);
}

/// <summary>
/// Sends an operator action that reached a follower to the leader, at the gRPC address the leader published with its
/// lease, with the caller's own <c>authorization</c> header (the follower keeps only the key's hash) and a deadline of
/// <see cref="ForwardingOptions.Timeout"/> or the caller's, whichever is sooner. The forwarded call carries
/// <see cref="ForwardedHeader"/>, so it is forwarded once at most: a replica that receives it and is not the leader
/// either (leadership is changing hands) refuses. The leader's answer, success or status, goes back as it is, its
/// detail prefixed with who answered; a leader that cannot be reached is UNAVAILABLE naming it. One channel per leader
/// address, reused.
/// </summary>
internal sealed partial class LeaderForwarder(ILeadership leadership, IOptions<ForwardingOptions> options, TimeProvider timeProvider, ILogger<LeaderForwarder> logger)
    : IDisposable
{
    /// <summary>Set on a forwarded call (value: the forwarding replica's id).</summary>
    public const string ForwardedHeader = "x-platform-watchdog-forwarded-by";

    private readonly ConcurrentDictionary<string, GrpcChannel> _channels = new(StringComparer.Ordinal);

    internal enum Action
    {
        Drain,
        Undrain,
        Restart,
    }

    /// <summary>The leader's answer to <paramref name="request"/>; throws an RpcException with the status to return otherwise.</summary>
    public async Task<EngineActionResponse> ForwardAsync(Action action, EngineActionRequest request, ServerCallContext context, string refusal)
    {
        var leader = leadership.Holder ?? "unknown";
        var forwardedBy = context.RequestHeaders.GetValue(ForwardedHeader);
        if (forwardedBy is not null)
        {
            throw new RpcException(new Status(StatusCode.Unavailable,
                $"{refusal}; this call was already forwarded (by {forwardedBy}) and is not forwarded again: leadership is changing hands, retry in a moment"));
        }

        var address = leadership.LeaderAddress;
        if (!options.Value.Enabled || string.IsNullOrEmpty(address) || leadership.Holder is null || leadership.Holder == leadership.ReplicaId)
        {
            var why = !options.Value.Enabled ? "forwarding is off (Watchdog:Forwarding:Enabled)" : "the leader published no gRPC address";
            throw new RpcException(new Status(StatusCode.Unavailable, $"{refusal} ({why})"));
        }

        var headers = new Metadata { { ForwardedHeader, leadership.ReplicaId } };
        if (context.RequestHeaders.GetValue("authorization") is { } authorization)
        {
            headers.Add("authorization", authorization);
        }

        var now = timeProvider.GetUtcNow().UtcDateTime;
        var deadline = context.Deadline < now + options.Value.Timeout ? context.Deadline : now + options.Value.Timeout;
        var client = new V1.Watchdog.WatchdogClient(_channels.GetOrAdd(address, a => GrpcChannel.ForAddress(a)));
        var call = new CallOptions(headers, deadline, context.CancellationToken);
        try
        {
            var response = action switch
            {
                Action.Drain => await client.DrainAsync(request, call).ConfigureAwait(false),
                Action.Undrain => await client.UndrainAsync(request, call).ConfigureAwait(false),
                _ => await client.RestartAsync(request, call).ConfigureAwait(false),
            };
            LogForwarded(logger, action.ToString(), request.EngineId, leader, "OK");
            return response;
        }
        catch (RpcException ex) when ((ex.StatusCode == StatusCode.DeadlineExceeded || ex.Status.DebugException is not null)
            && !context.CancellationToken.IsCancellationRequested)
        {
            // Raised by this client, not answered by the leader: connection refused or reset, or no answer in time.
            LogForwarded(logger, action.ToString(), request.EngineId, leader, ex.StatusCode.ToString());
            var callerOutOfTime = context.Deadline <= timeProvider.GetUtcNow().UtcDateTime;
            throw new RpcException(new Status(callerOutOfTime ? StatusCode.DeadlineExceeded : StatusCode.Unavailable,
                string.Create(CultureInfo.InvariantCulture, $"this replica is not the leader and the leader {leader} at {address} did not answer ({ex.StatusCode}; waited up to {(deadline - now).TotalSeconds:0.###} s); retry")));
        }
        catch (RpcException ex)
        {
            LogForwarded(logger, action.ToString(), request.EngineId, leader, ex.StatusCode.ToString());
            throw new RpcException(new Status(ex.StatusCode, $"from the leader {leader}: {ex.Status.Detail}"));
        }
    }

    public void Dispose()
    {
        foreach (var channel in _channels.Values)
        {
            channel.Dispose();
        }
    }

    [LoggerMessage(EventId = 5140, Level = LogLevel.Information, Message = "Forwarded {Action} of {Engine} to the leader {Leader}: {Status}")]
    private static partial void LogForwarded(ILogger logger, string action, string engine, string leader, string status);
}
