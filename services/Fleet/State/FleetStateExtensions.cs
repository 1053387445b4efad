using System.Diagnostics.Metrics;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Platform.Fleet;
using Platform.Fleet.Redis;
using Platform.Fleet.State;

namespace Microsoft.Extensions.Hosting;

public static class FleetStateExtensions
{
    /// <summary>
    /// Registers <see cref="IFleetState"/> (and the hosted service that connects, subscribes and reconciles it):
    /// Redis from <c>ConnectionStrings:redis</c>, local-only when none is configured; options from
    /// <c>Fleet:State</c>, validated at start. Uses the catalog's engine ids when <c>AddFleetCatalog</c> was called.
    /// </summary>
    public static IServiceCollection AddFleetState(this IServiceCollection services)
    {
        services.AddOptions<FleetStateOptions>()
            .BindConfiguration(FleetStateOptions.SectionName)
            .ValidateDataAnnotations()
            .ValidateOnStart();
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IValidateOptions<FleetStateOptions>, FleetStateOptionsValidator>());
        services.AddFleetRedis();
        services.TryAddSingleton<RedisFleetState>();
        services.TryAddSingleton<IFleetState>(sp => sp.GetRequiredService<RedisFleetState>());
        services.AddHostedService(sp => sp.GetRequiredService<RedisFleetState>());
        return services;
    }

    /// <inheritdoc cref="AddFleetState(IServiceCollection)"/>
    public static IHostApplicationBuilder AddFleetState(this IHostApplicationBuilder builder)
    {
        builder.Services.AddFleetState();
        return builder;
    }

    internal static IServiceCollection AddFleetRedis(this IServiceCollection services)
    {
        services.TryAddSingleton(TimeProvider.System);
        services.TryAddSingleton(sp => new FleetRedisConnection(
            sp.GetRequiredService<IConfiguration>(),
            sp.GetRequiredService<ILogger<FleetRedisConnection>>()));
        services.TryAddSingleton(sp => new FleetMetrics(sp.GetService<IMeterFactory>()));
        return services;
    }
}
