using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using Microsoft.Extensions.Options;
using OpenTelemetry.Metrics;
using Platform.Fleet.Redis;
using Platform.Watchdog.Actions;
using Platform.Watchdog.Detection;
using Platform.Watchdog.Events;
using Platform.Watchdog.Grpc;
using Platform.Watchdog.Leadership;
using Platform.Watchdog.Observation;
using Platform.Watchdog.Orchestrators;
using Platform.Watchdog.Probing;
using Platform.Watchdog.Telemetry;

namespace Microsoft.Extensions.Hosting;

/// <summary>
/// Wiring of the watchdog: options (sections <c>Watchdog</c>, <c>Watchdog:Budget</c>, <c>Watchdog:Detectors:*</c>,
/// <c>Watchdog:Lease</c>, <c>Watchdog:Orchestrator</c>, <c>Watchdog:Admin</c>, <c>Watchdog:Forwarding</c>,
/// <c>Watchdog:IdleProbe</c>; all validated at start), the detectors,
/// the engine probe, the restarter chosen by <c>Watchdog:Orchestrator:Kind</c>, the leader lease (Redis when
/// <c>ConnectionStrings:redis</c> is set), the coordinator, the HealthScorer follower, events and metrics. Needs
/// <c>IFleetCatalog</c> and <c>IFleetState</c> (services/Fleet). Every part is registered with TryAdd.
/// </summary>
internal static class WatchdogExtensions
{
    public static TBuilder AddWatchdog<TBuilder>(this TBuilder builder) where TBuilder : IHostApplicationBuilder
    {
        var services = builder.Services;
        services.TryAddSingleton(TimeProvider.System);
        services.AddMetrics();
        AddValidated<WatchdogOptions>(services, WatchdogOptions.SectionName);
        AddValidated<BudgetOptions>(services, BudgetOptions.SectionName);
        AddValidated<DeadDetectorOptions>(services, DeadDetectorOptions.SectionName);
        AddValidated<HungDetectorOptions>(services, HungDetectorOptions.SectionName);
        AddValidated<KvDriftDetectorOptions>(services, KvDriftDetectorOptions.SectionName);
        AddValidated<LatencyDetectorOptions>(services, LatencyDetectorOptions.SectionName);
        AddValidated<LeaseOptions>(services, LeaseOptions.SectionName);
        AddValidated<OrchestratorOptions>(services, OrchestratorOptions.SectionName);
        AddValidated<AdminOptions>(services, AdminOptions.SectionName);
        AddValidated<ForwardingOptions>(services, ForwardingOptions.SectionName);
        AddValidated<IdleProbeOptions>(services, IdleProbeOptions.SectionName);
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IValidateOptions<WatchdogOptions>, WatchdogOptionsValidator>());
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IValidateOptions<BudgetOptions>, WatchdogOptionsValidator>());
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IValidateOptions<KvDriftDetectorOptions>, KvDriftDetectorOptionsValidator>());
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IValidateOptions<LeaseOptions>, LeaseOptionsValidator>());
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IValidateOptions<OrchestratorOptions>, OrchestratorOptionsValidator>());
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IValidateOptions<IdleProbeOptions>, IdleProbeOptionsValidator>());

        // Detectors, asked in this order (the first that finds something names the degradation).
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IDegradationDetector, DeadDetector>());
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IDegradationDetector, HungDetector>());
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IDegradationDetector, KvDriftDetector>());
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IDegradationDetector, LatencyDetector>());

        // Probes and the orchestrator's API: no resilience handler (a retried restart restarts twice, a retried
        // probe hides a hang) and no total timeout (callers bound every call themselves).
        services.AddStreamingHttpClient(HttpEngineProbe.HttpClientName);
        services.AddStreamingHttpClient(AppHostRestarter.HttpClientName);
        services.TryAddSingleton<IEngineProbe, HttpEngineProbe>();
        services.TryAddSingleton<AppHostRestarter>();
        services.TryAddSingleton<KubernetesRestarter>();
        services.TryAddSingleton<DockerRestarter>();
        services.TryAddSingleton<IEngineRestarter>(sp => sp.GetRequiredService<IOptions<OrchestratorOptions>>().Value.Kind switch
        {
            KubernetesRestarter.KindName => sp.GetRequiredService<KubernetesRestarter>(),
            DockerRestarter.KindName => sp.GetRequiredService<DockerRestarter>(),
            _ => sp.GetRequiredService<AppHostRestarter>(),
        });

        var redisConfigured = !string.IsNullOrWhiteSpace(builder.Configuration.GetConnectionString(FleetRedisConnection.ConnectionStringName));
        if (redisConfigured)
        {
            services.TryAddSingleton<ILeaseStore, RedisLeaseStore>();
            services.TryAddSingleton<IRestartStateStore, RedisRestartStateStore>();
        }
        else
        {
            services.TryAddSingleton<ILeaseStore, InMemoryLeaseStore>();
            services.TryAddSingleton<IRestartStateStore, InMemoryRestartStateStore>();
        }

        services.TryAddSingleton<IAdvertisedGrpcAddress, KestrelGrpcAddress>();
        services.TryAddSingleton<LeaderElection>();
        services.TryAddSingleton<ILeadership>(sp => sp.GetRequiredService<LeaderElection>());
        services.TryAddSingleton<EventLog>();
        services.TryAddSingleton(sp =>
        {
            var coordinator = ActivatorUtilities.CreateInstance<EngineCoordinator>(sp);
            sp.GetRequiredService<LeaderElection>().Changed += coordinator.OnLeadershipChanged;
            return coordinator;
        });
        services.TryAddSingleton<WatchdogMetrics>();
        services.TryAddSingleton<AdminKey>();
        services.TryAddSingleton<LeaderForwarder>();
        services.TryAddSingleton<HealthScorerFollower>();
        services.AddHostedService(sp =>
        {
            // Metrics and logs subscribe to the event log before anything can happen.
            sp.GetRequiredService<WatchdogMetrics>();
            return sp.GetRequiredService<LeaderElection>();
        });
        services.AddHostedService(sp => sp.GetRequiredService<HealthScorerFollower>());
        services.AddHealthChecks().AddCheck<HealthViewCheck>("health-view");

        services.AddOpenTelemetry().WithMetrics(metrics => metrics
            .AddView("dotnet.assembly.count", "dotnet.assembly.loaded")
            .AddView("dotnet.process.cpu.count", "dotnet.process.cpu.cores")
            .AddView("dotnet.timer.count", "dotnet.timer.active"));
        return builder;
    }

    private static void AddValidated<T>(IServiceCollection services, string section) where T : class =>
        services.AddOptions<T>().BindConfiguration(section).ValidateDataAnnotations().ValidateOnStart();
}

/// <summary>
/// Healthy with a fresh HealthScorer view; Degraded (still 200: the process serves its API, events and status) before
/// the first snapshot and while the view is stale, since the watchdog then does not act.
/// </summary>
internal sealed class HealthViewCheck(EngineCoordinator coordinator, IOptions<WatchdogOptions> options, TimeProvider timeProvider) : IHealthCheck
{
    public Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default)
    {
        if (coordinator.LastSnapshotAt is not { } at)
        {
            return Task.FromResult(HealthCheckResult.Degraded("No HealthScorer snapshot yet: no action until one arrives."));
        }

        var age = timeProvider.GetUtcNow() - at;
        return Task.FromResult(age > options.Value.StaleViewAfter
            ? HealthCheckResult.Degraded($"The health view is {age.TotalSeconds:0.0} s old: no action until it is fresh.")
            : HealthCheckResult.Healthy());
    }
}
