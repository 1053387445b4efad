using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Platform.Fleet.Limits;

namespace Microsoft.Extensions.Hosting;

public static class RateLimiterExtensions
{
    /// <summary>
    /// Registers <see cref="IRateLimiter"/>: requests/min and tokens/min per key shared through Redis
    /// (<c>ConnectionStrings:redis</c>), per-replica counts when Redis is unreachable or not configured.
    /// Options from <c>Fleet:RateLimits</c>, validated at start.
    /// </summary>
    public static IServiceCollection AddFleetRateLimiter(this IServiceCollection services)
    {
        services.AddOptions<RateLimiterOptions>()
            .BindConfiguration(RateLimiterOptions.SectionName)
            .ValidateDataAnnotations()
            .ValidateOnStart();
        services.AddFleetRedis();
        services.TryAddSingleton<RedisRateLimiter>();
        services.TryAddSingleton<IRateLimiter>(sp => sp.GetRequiredService<RedisRateLimiter>());
        services.AddHostedService(sp => sp.GetRequiredService<RedisRateLimiter>());
        return services;
    }

    /// <inheritdoc cref="AddFleetRateLimiter(IServiceCollection)"/>
    public static IHostApplicationBuilder AddFleetRateLimiter(this IHostApplicationBuilder builder)
    {
        builder.Services.AddFleetRateLimiter();
        return builder;
    }
}
