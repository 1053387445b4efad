using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Platform.Fleet.Catalog;
using Platform.Fleet.State;
using Platform.HealthScorer.Publishing;
using Platform.HealthScorer.Scoring;
using Platform.HealthScorer.Telemetry;

namespace Platform.HealthScorer.Scraping;

/// <summary>
/// Every <see cref="HealthScorerOptions.ScrapeInterval"/>, scrapes every engine of the catalog at once (each bounded
/// by the scrape timeout), judges each one as its scrape ends, and publishes: a snapshot to WatchFleet subscribers
/// and the entries to the fleet state after every round, and a snapshot at once when an engine's pressure or
/// routability changes (so a change waits for no slower engine). The first round starts at once.
/// </summary>
internal sealed partial class ScrapeLoop : BackgroundService
{
    private readonly IFleetCatalog _catalog;
    private readonly EngineScraper _scraper;
    private readonly FleetSnapshotHub _hub;
    private readonly FleetHealthPublisher _publisher;
    private readonly HealthScorerMetrics _metrics;
    private readonly IOptions<HealthScorerOptions> _options;
    private readonly IEnumerable<IHealthScoringPolicy> _policies;
    private readonly TimeProvider _timeProvider;
    private readonly ILogger<ScrapeLoop> _logger;
    private readonly Lock _publishGate = new();
    private Slot[]? _slots;

    public ScrapeLoop(
        IFleetCatalog catalog,
        EngineScraper scraper,
        FleetSnapshotHub hub,
        FleetHealthPublisher publisher,
        HealthScorerMetrics metrics,
        IOptions<HealthScorerOptions> options,
        IEnumerable<IHealthScoringPolicy> policies,
        TimeProvider timeProvider,
        ILogger<ScrapeLoop> logger)
    {
        _catalog = catalog;
        _scraper = scraper;
        _hub = hub;
        _publisher = publisher;
        _metrics = metrics;
        _options = options;
        _policies = policies;
        _timeProvider = timeProvider;
        _logger = logger;
    }

    // Options are read when used, not in the constructor: hosted services are built before options are validated at
    // start, and reading them here would report this one setting instead of every wrong one.
    private HealthScorerOptions Options => _options.Value;

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        using var timer = new PeriodicTimer(Options.ScrapeInterval, _timeProvider);
        do
        {
            try
            {
                await RunRoundAsync(stoppingToken).ConfigureAwait(false);
            }
            catch (Exception ex) when (ex is not OperationCanceledException || !stoppingToken.IsCancellationRequested)
            {
                // One bad round must not stop the host (a background service's exception does by default).
                LogRoundFailed(_logger, ex);
            }
        }
        while (await timer.WaitForNextTickAsync(stoppingToken).ConfigureAwait(false));
    }

    public override async Task StopAsync(CancellationToken cancellationToken)
    {
        _hub.Complete();
        await base.StopAsync(cancellationToken).ConfigureAwait(false);
    }

    /// <summary>One round over every engine; returns the statuses it published.</summary>
    public async Task<IReadOnlyList<EngineStatus>> RunRoundAsync(CancellationToken cancellationToken)
    {
        var slots = _slots ??= CreateSlots();
        var tasks = new Task[slots.Length];
        for (var i = 0; i < slots.Length; i++)
        {
            tasks[i] = ScrapeOneAsync(slots[i], cancellationToken);
        }

        await Task.WhenAll(tasks).ConfigureAwait(false);
        var statuses = Statuses(slots);
        lock (_publishGate)
        {
            _hub.Publish(statuses);
        }

        await PublishToFleetAsync(statuses, cancellationToken).ConfigureAwait(false);
        return statuses;
    }

    private Slot[] CreateSlots()
    {
        var policy = _policies.FirstOrDefault(p => string.Equals(p.Name, Options.ScoringPolicy, StringComparison.OrdinalIgnoreCase))
            ?? throw new InvalidOperationException($"{HealthScorerOptions.SectionName}:ScoringPolicy '{Options.ScoringPolicy}' is not a registered scoring policy.");
        var engines = _catalog.Engines;
        var slots = new Slot[engines.Count];
        for (var i = 0; i < slots.Length; i++)
        {
            var engine = engines[i];
            slots[i] = new Slot(new EngineTracker(engine, _catalog.FindPool(engine.Pool), Options, policy));
        }

        return slots;
    }

    private async Task ScrapeOneAsync(Slot slot, CancellationToken cancellationToken)
    {
        var tracker = slot.Tracker;
        var previous = tracker.Status;
        var readVersion = previous.EngineVersion.Length == 0 || !previous.Reachable || slot.ReadVersionNext;
        var outcome = await _scraper.ScrapeAsync(tracker.Engine.BaseUri, slot.Buffers, readVersion, cancellationToken).ConfigureAwait(false);
        var status = tracker.Observe(outcome, _timeProvider.GetUtcNow());
        slot.ReadVersionNext = tracker.RestartDetected;
        _metrics.Scraped(tracker.Engine.Id, outcome);
        Report(previous, status, outcome, tracker.RestartDetected);

        if (previous.Pressure != status.Pressure || previous.Healthy != status.Healthy)
        {
            // Routing must not wait for the slowest engine of the round.
            var statuses = Statuses(_slots!);
            lock (_publishGate)
            {
                _hub.Publish(statuses);
            }

            await PublishToFleetAsync([status], cancellationToken).ConfigureAwait(false);
        }
    }

    private static EngineStatus[] Statuses(Slot[] slots)
    {
        var statuses = new EngineStatus[slots.Length];
        for (var i = 0; i < slots.Length; i++)
        {
            statuses[i] = slots[i].Tracker.Status;
        }

        return statuses;
    }

    private async Task PublishToFleetAsync(IReadOnlyList<EngineStatus> statuses, CancellationToken cancellationToken)
    {
        if (!Options.PublishToFleetState || statuses.Count == 0)
        {
            return;
        }

        try
        {
            await _publisher.PublishAsync(statuses, cancellationToken).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is not OperationCanceledException)
        {
            LogPublishFailed(_logger, ex);
        }
    }

    /// <summary>Logs what changed (events with stable ids) and counts pressure transitions.</summary>
    private void Report(EngineStatus previous, EngineStatus status, in ScrapeOutcome outcome, bool restarted)
    {
        var id = status.Engine.Id;
        if (previous.Pressure != status.Pressure)
        {
            _metrics.PressureChanged(id, status.Pressure);
            LogPressureChanged(_logger, id, previous.Pressure, status.Pressure, status.KvCacheUsage);
        }

        if (previous.Reachable && !status.Reachable)
        {
            LogUnreachable(_logger, id, status.ConsecutiveScrapeErrors, status.LastScrapeError);
        }
        else if (!previous.Reachable && status.Reachable)
        {
            LogReachable(_logger, id);
        }

        if (!previous.Stalled && status.Stalled)
        {
            LogStalled(_logger, id, status.Running, Options.StallAfter.TotalSeconds);
        }
        else if (previous.Stalled && !status.Stalled)
        {
            LogProgressing(_logger, id);
        }

        if (!ReferenceEquals(previous.MissingSeries, status.MissingSeries))
        {
            if (status.MissingSeries.Count > 0)
            {
                LogSeriesMissing(_logger, id, string.Join(", ", status.MissingSeries));
            }
            else if (previous.MissingSeries.Count > 0)
            {
                LogSeriesBack(_logger, id);
            }
        }

        if (previous.Generation != status.Generation || previous.EngineVersion != status.EngineVersion)
        {
            LogGeneration(_logger, id, status.EngineVersion.Length == 0 ? "unknown" : status.EngineVersion, status.Generation);
        }

        if (restarted)
        {
            LogRestarted(_logger, id);
        }

        if (outcome.Metrics is { InvalidLines: > 0 } m && previous.LastScrapeError.Length == 0)
        {
            LogInvalidLines(_logger, id, m.InvalidLines, m.FirstInvalidLine, m.FirstInvalidError.ToString());
        }
    }

    [LoggerMessage(EventId = 4101, Level = LogLevel.Information, Message = "Engine {EngineId} pressure {From} -> {To} (KV cache usage {KvCacheUsage:F3})")]
    private static partial void LogPressureChanged(ILogger logger, string engineId, PressureState from, PressureState to, double kvCacheUsage);

    [LoggerMessage(EventId = 4102, Level = LogLevel.Warning, Message = "Engine {EngineId} unreachable after {Failures} failed scrapes ({Error})")]
    private static partial void LogUnreachable(ILogger logger, string engineId, int failures, string error);

    [LoggerMessage(EventId = 4103, Level = LogLevel.Information, Message = "Engine {EngineId} reachable")]
    private static partial void LogReachable(ILogger logger, string engineId);

    [LoggerMessage(EventId = 4104, Level = LogLevel.Warning, Message = "Engine {EngineId} stalled: /health says 200, {Running} requests running, no token generated for {Seconds} s")]
    private static partial void LogStalled(ILogger logger, string engineId, double running, double seconds);

    [LoggerMessage(EventId = 4105, Level = LogLevel.Information, Message = "Engine {EngineId} makes progress again")]
    private static partial void LogProgressing(ILogger logger, string engineId);

    [LoggerMessage(EventId = 4106, Level = LogLevel.Warning, Message = "Engine {EngineId} does not expose expected series: {Series} (reported as missing, never read as zero)")]
    private static partial void LogSeriesMissing(ILogger logger, string engineId, string series);

    [LoggerMessage(EventId = 4107, Level = LogLevel.Information, Message = "Engine {EngineId} exposes every expected series again")]
    private static partial void LogSeriesBack(ILogger logger, string engineId);

    [LoggerMessage(EventId = 4108, Level = LogLevel.Information, Message = "Engine {EngineId} runs vLLM {Version}, metric generation {Generation}")]
    private static partial void LogGeneration(ILogger logger, string engineId, string version, MetricGeneration generation);

    [LoggerMessage(EventId = 4109, Level = LogLevel.Information, Message = "Engine {EngineId} counters went back: restarted; its window starts anew")]
    private static partial void LogRestarted(ILogger logger, string engineId);

    [LoggerMessage(EventId = 4110, Level = LogLevel.Warning, Message = "Engine {EngineId} served {Count} invalid exposition line(s), first at line {Line} ({Error}); they are skipped")]
    private static partial void LogInvalidLines(ILogger logger, string engineId, int count, int line, string error);

    [LoggerMessage(EventId = 4111, Level = LogLevel.Error, Message = "A scrape round failed")]
    private static partial void LogRoundFailed(ILogger logger, Exception exception);

    [LoggerMessage(EventId = 4112, Level = LogLevel.Warning, Message = "Publishing engine health to the fleet state failed")]
    private static partial void LogPublishFailed(ILogger logger, Exception exception);

    private sealed class Slot(EngineTracker tracker)
    {
        public EngineTracker Tracker { get; } = tracker;

        public ScrapeBuffers Buffers { get; } = new();

        public bool ReadVersionNext { get; set; }
    }
}
