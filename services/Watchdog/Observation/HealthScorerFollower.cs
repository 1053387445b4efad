using Grpc.Core;
using Grpc.Net.Client;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Platform.Health.V1;
using Platform.Watchdog.Actions;
using Platform.Watchdog.Detection;

namespace Platform.Watchdog.Observation;

/// <summary>
/// Follows the HealthScorer's <c>WatchFleet</c> stream (address from <c>Watchdog:HealthScorerAddress</c> or service
/// discovery's <c>services:healthscorer:grpc:0</c>, as the gateway gets it) into the coordinator, and runs the
/// detectors every <see cref="WatchdogOptions.EvaluateInterval"/> in between, so a view that stopped coming is noticed
/// (and not acted on). Reconnects with back-off (0.5 s doubling to 5 s).
/// </summary>
internal sealed partial class HealthScorerFollower(
    EngineCoordinator coordinator,
    IConfiguration configuration,
    IOptions<WatchdogOptions> options,
    TimeProvider timeProvider,
    ILogger<HealthScorerFollower> logger) : BackgroundService
{
    public static string? ResolveAddress(WatchdogOptions options, IConfiguration configuration) =>
        !string.IsNullOrWhiteSpace(options.HealthScorerAddress) ? options.HealthScorerAddress : configuration["services:healthscorer:grpc:0"];

    protected override Task ExecuteAsync(CancellationToken stoppingToken) =>
        Task.WhenAll(FollowAsync(stoppingToken), TickAsync(stoppingToken));

    private async Task TickAsync(CancellationToken stoppingToken)
    {
        using var timer = new PeriodicTimer(options.Value.EvaluateInterval, timeProvider);
        try
        {
            while (await timer.WaitForNextTickAsync(stoppingToken).ConfigureAwait(false))
            {
                coordinator.Evaluate();
            }
        }
        catch (OperationCanceledException)
        {
        }
    }

    private async Task FollowAsync(CancellationToken stoppingToken)
    {
        var address = ResolveAddress(options.Value, configuration);
        if (string.IsNullOrWhiteSpace(address) || !Uri.TryCreate(address, UriKind.Absolute, out var uri))
        {
            LogNoAddress(logger);
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
                    coordinator.OnSnapshot(ToObservations(snapshot, timeProvider.GetUtcNow()));
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

            try
            {
                await Task.Delay(delay, timeProvider, stoppingToken).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                return;
            }

            delay = TimeSpan.FromTicks(Math.Min(delay.Ticks * 2, TimeSpan.FromSeconds(5).Ticks));
        }
    }

    internal static List<EngineObservation> ToObservations(FleetSnapshot snapshot, DateTimeOffset at)
    {
        var observations = new List<EngineObservation>(snapshot.Engines.Count);
        foreach (var e in snapshot.Engines)
        {
            observations.Add(new EngineObservation(
                at,
                e.EngineId,
                e.Pool,
                e.Reachable,
                e.Stalled,
                e.ConsecutiveScrapeErrors,
                e.LastScrapeError,
                e.KvCacheUsage,
                e.Running,
                e.Waiting,
                e.TtftP95Seconds,
                e.GenerationTokensPerSecond,
                e.ObservedAt?.ToDateTimeOffset()));
        }

        return observations;
    }

    [LoggerMessage(EventId = 5120, Level = LogLevel.Warning, Message = "No HealthScorer address (Watchdog:HealthScorerAddress or services:healthscorer:grpc:0): nothing is detected")]
    private static partial void LogNoAddress(ILogger logger);

    [LoggerMessage(EventId = 5121, Level = LogLevel.Warning, Message = "HealthScorer WatchFleet stream lost ({StatusCode}); reconnecting, no action meanwhile once the view is stale")]
    private static partial void LogStreamLost(ILogger logger, StatusCode statusCode);
}
