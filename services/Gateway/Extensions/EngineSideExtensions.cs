using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Options;
using Platform.Gateway.Breakers;
using Platform.Gateway.Classification;
using Platform.Gateway.Health;
using Platform.Gateway.Pipeline;
using Platform.Gateway.Routing;
using Platform.Gateway.Upstream;

namespace Microsoft.Extensions.Hosting;

/// <summary>
/// Wiring of the gateway's engine side: classification, routing and its policies, the health view (HealthScorer
/// stream, else own scraping), breakers and the prober, the upstream client and the generation pipeline. Needs
/// <c>IFleetCatalog</c> and <c>IFleetState</c> (services/Fleet) and the ServiceDefaults streaming HTTP client.
/// Every implementation is registered with TryAdd so tests and benchmarks can replace it.
/// </summary>
internal static class EngineSideExtensions
{
    public static TBuilder AddGatewayEngineSide<TBuilder>(this TBuilder builder) where TBuilder : IHostApplicationBuilder
    {
        var services = builder.Services;
        services.TryAddSingleton(TimeProvider.System);
        services.AddMetrics();

        AddValidatedOptions<RoutingOptions>(services, RoutingOptions.SectionName);
        AddValidatedOptions<HealthOptions>(services, HealthOptions.SectionName);
        AddValidatedOptions<BreakerOptions>(services, BreakerOptions.SectionName);
        AddValidatedOptions<UpstreamOptions>(services, UpstreamOptions.SectionName);
        AddValidatedOptions<RetryOptions>(services, RetryOptions.SectionName);
        AddValidatedOptions<ClassifierOptions>(services, ClassifierOptions.SectionName);
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IValidateOptions<HealthOptions>, HealthOptionsValidator>());
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IValidateOptions<RetryOptions>, RetryOptionsValidator>());
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IValidateOptions<RoutingOptions>, RoutingOptionsValidator>());

        services.TryAddSingleton<EngineSideMetrics>();
        services.TryAddSingleton<IRequestClassifier, GrpcRequestClassifier>();

        services.TryAddSingleton<RoutingRandom>();
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IEngineSelectionPolicy, PowerOfTwoChoicesPolicy>());
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IEngineSelectionPolicy, LeastLoadedPolicy>());
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IEngineSelectionPolicy, RoundRobinPolicy>());
        services.TryAddSingleton<IInFlightTracker, InFlightTracker>();
        services.TryAddSingleton<EngineLatencyTracker>();
        services.TryAddSingleton<IEngineRouter, EngineRouter>();

        services.TryAddSingleton<EngineHealthView>();
        services.TryAddSingleton<IEngineHealthView>(sp => sp.GetRequiredService<EngineHealthView>());
        services.TryAddSingleton<EngineMetricsScraper>();
        services.TryAddSingleton<HealthScorerWatcher>();
        services.AddHostedService(sp => sp.GetRequiredService<HealthScorerWatcher>());
        services.AddHostedService(sp => sp.GetRequiredService<EngineMetricsScraper>());

        services.TryAddSingleton<BreakerRecorder>();
        services.TryAddSingleton<BreakerProber>();
        services.AddHostedService(sp => sp.GetRequiredService<BreakerProber>());

        services.AddEngineHttpClient();
        services.TryAddSingleton<IUpstreamClient, EngineHttpClient>();
        services.TryAddSingleton<RetryBudget>();
        services.TryAddSingleton<IGenerationPipeline, GenerationPipeline>();
        return builder;
    }

    /// <summary>
    /// The HTTP client of engine calls: ServiceDefaults' streaming client (no total timeout, no resilience handler, no
    /// drain of a half-read response) without the factory's logging handlers and without the service-discovery handler
    /// that ServiceDefaults gives every client. Engines are called at the addresses the catalog resolved, so neither does
    /// anything for them, and every delegating handler is one more async frame that a cancelled call unwinds through with
    /// its exception: a storm of client disconnects cancels a thousand calls at once.
    /// </summary>
    public static IHttpClientBuilder AddEngineHttpClient(this IServiceCollection services) =>
        services.AddStreamingHttpClient(EngineHttpClient.HttpClientName)
            .RemoveAllLoggers()
            .ConfigureAdditionalHttpMessageHandlers(static (handlers, _) => handlers.Clear());

    private static void AddValidatedOptions<T>(IServiceCollection services, string section) where T : class =>
        services.AddOptions<T>().BindConfiguration(section).ValidateDataAnnotations().ValidateOnStart();
}
