using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using Microsoft.Extensions.Options;
using OpenTelemetry.Metrics;
using Platform.HealthScorer.Publishing;
using Platform.HealthScorer.Scoring;
using Platform.HealthScorer.Scraping;
using Platform.HealthScorer.Telemetry;

namespace Microsoft.Extensions.Hosting;

/// <summary>
/// Wiring of the HealthScorer: options (section <c>HealthScorer</c>, validated at start), the scraper and its HTTP
/// client, scoring policies, the snapshot hub, the fleet-state publisher, the scrape loop and a readiness check that
/// passes once the first round has ended. Needs <c>IFleetCatalog</c> and <c>IFleetState</c> (services/Fleet).
/// Every part is registered with TryAdd so tests and benchmarks can replace it.
/// </summary>
internal static class HealthScorerExtensions
{
    public static TBuilder AddHealthScorer<TBuilder>(this TBuilder builder) where TBuilder : IHostApplicationBuilder
    {
        var services = builder.Services;
        services.TryAddSingleton(TimeProvider.System);
        services.AddMetrics();
        services.AddOptions<HealthScorerOptions>()
            .BindConfiguration(HealthScorerOptions.SectionName)
            .ValidateDataAnnotations()
            .ValidateOnStart();
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IValidateOptions<HealthScorerOptions>, HealthScorerOptionsValidator>());

        services.AddStreamingHttpClient(EngineScraper.HttpClientName);
        services.TryAddSingleton<HealthScorerMetrics>();
        services.TryAddSingleton<EngineScraper>();
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IHealthScoringPolicy, DefaultScoringPolicy>());
        services.TryAddSingleton<FleetSnapshotHub>();
        services.TryAddSingleton<FleetHealthPublisher>();
        services.TryAddSingleton<ScrapeLoop>();
        services.AddHostedService(sp => sp.GetRequiredService<ScrapeLoop>());
        services.AddHealthChecks().AddCheck<FirstRoundHealthCheck>("first-scrape-round");

        // promtool check metrics rejects a "_count" suffix on anything but histograms and summaries; these runtime
        // gauges/counters get names that keep their meaning and pass it (as the gateway does).
        services.AddOpenTelemetry().WithMetrics(metrics => metrics
            .AddView("dotnet.assembly.count", "dotnet.assembly.loaded")
            .AddView("dotnet.process.cpu.count", "dotnet.process.cpu.cores")
            .AddView("dotnet.timer.count", "dotnet.timer.active"));
        return builder;
    }
}

/// <summary>Ready once the first scrape round has ended: before that there is nothing to serve.</summary>
internal sealed class FirstRoundHealthCheck(FleetSnapshotHub hub) : IHealthCheck
{
    public Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default) =>
        Task.FromResult(hub.FirstSnapshot.IsCompleted
            ? HealthCheckResult.Healthy()
            : HealthCheckResult.Unhealthy("No scrape round has ended yet."));
}
