using Grpc.Core;
using Grpc.Net.Client;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Platform.Health.V1;
using FleetPressure = Platform.Fleet.State.PressureState;

namespace Platform.Gateway.Health;

/// <summary>
/// Follows the HealthScorer's WatchFleet stream (address from Gateway:Health:HealthScorerAddress or service
/// discovery's services:healthscorer:grpc:0) into the health view. Absent: does nothing (the scraper serves).
/// Unreachable or broken: reconnects with back-off while the scraper takes over once the last snapshot is stale.
/// </summary>
internal sealed partial class HealthScorerWatcher(
    EngineHealthView view,
    IConfiguration configuration,
    IOptions<HealthOptions> options,
    TimeProvider timeProvider,
    ILogger<HealthScorerWatcher> logger) : BackgroundService
{
    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        var address = options.Value.HealthScorerAddress;
        if (string.IsNullOrWhiteSpace(address))
        {
            address = configuration["services:healthscorer:grpc:0"];
        }

        if (string.IsNullOrWhiteSpace(address) || !Uri.TryCreate(address, UriKind.Absolute, out var uri))
        {
            LogAbsent(logger);
            return;
        }

        using var channel = GrpcChannel.ForAddress(uri);
        var client = new HealthScorer.HealthScorerClient(channel);
        var delay = TimeSpan.FromMilliseconds(500);
        while (!stoppingToken.IsCancellationRequested)
        {
            try
            {
                using var call = client.WatchFleet(new WatchFleetRequest(), cancellationToken: stoppingToken);
                await foreach (var snapshot in call.ResponseStream.ReadAllAsync(stoppingToken).ConfigureAwait(false))
                {
                    Apply(snapshot);
                    delay = TimeSpan.FromMilliseconds(500);
                }
            }
            catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
            {
                return;
            }
            catch (RpcException ex) when (ex.StatusCode == StatusCode.Cancelled && stoppingToken.IsCancellationRequested)
            {
                return;
            }
            catch (RpcException ex)
            {
                LogStreamLost(logger, ex.StatusCode);
            }

            await Task.Delay(delay, timeProvider, stoppingToken).ConfigureAwait(false);
            delay = TimeSpan.FromTicks(Math.Min(delay.Ticks * 2, TimeSpan.FromSeconds(30).Ticks));
        }
    }

    private void Apply(FleetSnapshot snapshot)
    {
        var now = timeProvider.GetUtcNow();
        foreach (var e in snapshot.Engines)
        {
            view.Update(
                new Fleet.State.EngineHealthEntry(
                    e.EngineId,
                    e.Score,
                    e.Pressure == PressureState.UnderPressure ? FleetPressure.UnderPressure : FleetPressure.Normal,
                    e.Reachable && !e.Stalled,
                    e.KvCacheUsage,
                    e.Running,
                    e.Waiting,
                    e.TtftP95Seconds,
                    now),
                HealthSource.HealthScorer);
        }
    }

    [LoggerMessage(EventId = 3111, Level = LogLevel.Information, Message = "No HealthScorer address configured: the gateway scrapes engines itself")]
    private static partial void LogAbsent(ILogger logger);

    [LoggerMessage(EventId = 3112, Level = LogLevel.Warning, Message = "HealthScorer WatchFleet stream lost ({StatusCode}); the gateway's own scraper serves until it returns")]
    private static partial void LogStreamLost(ILogger logger, StatusCode statusCode);
}
