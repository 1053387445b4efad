using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Platform.Fleet.Catalog;
using Platform.Fleet.State;
using Platform.Gateway.Routing;

namespace Platform.Gateway.Health;

/// <summary>
/// The gateway's own health source while the HealthScorer stream is not live: every engine's /metrics each interval
/// (all engines at once, each with a timeout), turned into an entry with a score, the pressure state (hysteresis)
/// and reachability. Pressure and reachability changes are published through the fleet state so replicas agree.
/// A scrape that times out is weak evidence: on a starved host (or while freshly started processes compile their
/// code) every /metrics call can time out while the engines serve normally, and counting those would take the whole
/// fleet out of routing (new requests refused, broken streams not continued). So a timeout counts only when another
/// engine answered in the same round (this process could complete a scrape in time) and this gateway has no request
/// in flight on the engine (an engine it streams from is judged by those requests: first-token and idle timeouts,
/// broken streams, its breaker). Refused or reset connections and error statuses always count.
/// </summary>
internal sealed partial class EngineMetricsScraper(
    IFleetCatalog catalog,
    IFleetState fleetState,
    EngineHealthView view,
    IInFlightTracker inFlight,
    IHttpClientFactory httpClientFactory,
    IOptions<HealthOptions> options,
    TimeProvider timeProvider,
    ILogger<EngineMetricsScraper> logger) : BackgroundService
{
    // Read when used, not when constructed: hosted services are built before options are validated at start,
    // and reading here would report this one setting instead of every wrong one.
    private const string TimeoutError = "timeout";

    private HealthOptions Options => options.Value;
    private readonly Dictionary<string, int> _failures = new(StringComparer.Ordinal);

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        using var timer = new PeriodicTimer(Options.ScrapeInterval, timeProvider);
        do
        {
            if (!view.HealthScorerLive(Options.HealthScorerStaleAfter))
            {
                try
                {
                    await ScrapeAllAsync(stoppingToken).ConfigureAwait(false);
                }
                catch (Exception ex) when (ex is not OperationCanceledException || !stoppingToken.IsCancellationRequested)
                {
                    // One bad round must not stop the host (a background service's exception does by default).
                    LogRoundFailed(logger, ex);
                }
            }
        }
        while (await timer.WaitForNextTickAsync(stoppingToken).ConfigureAwait(false));
    }

    /// <summary>One round over every engine of the catalog; returns the entries it produced.</summary>
    public async Task<IReadOnlyList<EngineHealthEntry>> ScrapeAllAsync(CancellationToken cancellationToken)
    {
        var engines = catalog.Engines;
        var tasks = new Task<(EngineMetrics? Metrics, string? Error)>[engines.Count];
        for (var i = 0; i < engines.Count; i++)
        {
            tasks[i] = ScrapeAsync(engines[i], cancellationToken);
        }

        await Task.WhenAll(tasks).ConfigureAwait(false);
        var anyAnswered = false;
        foreach (var task in tasks)
        {
            anyAnswered |= task.Result.Metrics is not null || task.Result.Error?.StartsWith("HTTP ", StringComparison.Ordinal) == true;
        }

        var entries = new List<EngineHealthEntry>(engines.Count);
        List<EngineHealthEntry>? changed = null;
        for (var i = 0; i < engines.Count; i++)
        {
            var (entry, didChange) = Apply(engines[i], tasks[i].Result.Metrics, tasks[i].Result.Error, anyAnswered);
            entries.Add(entry);
            if (didChange)
            {
                (changed ??= []).Add(entry);
            }
        }

        if (changed is not null)
        {
            try
            {
                await fleetState.PublishHealthAsync(changed, cancellationToken).ConfigureAwait(false);
            }
            catch (Exception ex) when (ex is not OperationCanceledException)
            {
                LogPublishFailed(logger, ex);
            }
        }

        return entries;
    }

    private (EngineHealthEntry Entry, bool Changed) Apply(EngineInfo engine, EngineMetrics? metrics, string? error, bool anyAnswered)
    {
        var now = timeProvider.GetUtcNow();
        var previous = view.GetLocal(engine.Id);
        EngineHealthEntry entry;
        if (metrics is { } m)
        {
            _failures[engine.Id] = 0;
            var pressure = PressureHysteresis.Next(
                previous?.Pressure ?? PressureState.Normal, m.KvCacheUsage, Options.PressureOpenThreshold, Options.PressureCloseThreshold);
            entry = new EngineHealthEntry(
                engine.Id, PressureHysteresis.Score(m.KvCacheUsage, m.Waiting), pressure, true,
                double.IsNaN(m.KvCacheUsage) ? 0 : m.KvCacheUsage, m.Running, m.Waiting, double.NaN, now);
        }
        else if (error == TimeoutError && (!anyAnswered || inFlight.Count(engine.Id) > 0))
        {
            // Not counted (see the class comment): the last figures stand, the failure count does not move.
            var basis = previous ?? new EngineHealthEntry(engine.Id, double.NaN, PressureState.Normal, true, 0, 0, 0, double.NaN, now);
            entry = basis with { ObservedAt = now };
        }
        else
        {
            var failures = _failures.GetValueOrDefault(engine.Id) + 1;
            _failures[engine.Id] = failures;
            // Unreachable only after the threshold, also for an engine never scraped successfully yet.
            var reachable = failures < Options.UnreachableAfterFailures && (previous?.Reachable ?? true);
            var basis = previous ?? new EngineHealthEntry(engine.Id, 0, PressureState.Normal, true, 0, 0, 0, double.NaN, now);
            entry = basis with
            {
                Reachable = reachable,
                Score = reachable ? basis.Score : 0,
                ObservedAt = now,
            };
            if (!reachable && previous is { Reachable: true })
            {
                LogUnreachable(logger, engine.Id, failures, error ?? "unknown");
            }
        }

        if (previous is not null && previous.Pressure != entry.Pressure)
        {
            LogPressureChanged(logger, engine.Id, previous.Pressure, entry.Pressure, entry.KvCacheUsage);
        }

        view.Update(entry, HealthSource.Scraper);
        var changed = previous is null || previous.Pressure != entry.Pressure || previous.Reachable != entry.Reachable;
        return (entry, changed);
    }

    private async Task<(EngineMetrics? Metrics, string? Error)> ScrapeAsync(EngineInfo engine, CancellationToken cancellationToken)
    {
        using var timeout = new CancellationTokenSource(Options.ScrapeTimeout, timeProvider);
        using var linked = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, timeout.Token);
        try
        {
            var client = httpClientFactory.CreateClient(Extensions.StreamingHttpClientName);
            using var response = await client.GetAsync(new Uri(engine.BaseUri, "metrics"), HttpCompletionOption.ResponseContentRead, linked.Token).ConfigureAwait(false);
            if (!response.IsSuccessStatusCode)
            {
                return (null, $"HTTP {(int)response.StatusCode}");
            }

            var body = await response.Content.ReadAsByteArrayAsync(linked.Token).ConfigureAwait(false);
            return (EngineMetricsReader.Read(body), null);
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            return (null, TimeoutError);
        }
        catch (HttpRequestException ex)
        {
            return (null, ex.HttpRequestError.ToString());
        }
    }

    [LoggerMessage(EventId = 3101, Level = LogLevel.Warning, Message = "Engine {EngineId} unreachable after {Failures} failed scrapes ({Error})")]
    private static partial void LogUnreachable(ILogger logger, string engineId, int failures, string error);

    [LoggerMessage(EventId = 3102, Level = LogLevel.Information, Message = "Engine {EngineId} pressure {From} -> {To} (KV cache usage {KvCacheUsage:F3})")]
    private static partial void LogPressureChanged(ILogger logger, string engineId, PressureState from, PressureState to, double kvCacheUsage);

    [LoggerMessage(EventId = 3104, Level = LogLevel.Error, Message = "A scrape round failed")]
    private static partial void LogRoundFailed(ILogger logger, Exception exception);

    [LoggerMessage(EventId = 3103, Level = LogLevel.Warning, Message = "Publishing engine health to the fleet state failed")]
    private static partial void LogPublishFailed(ILogger logger, Exception exception);
}
