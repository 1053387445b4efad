using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Options;
using Platform.Fleet.Catalog;

namespace Microsoft.Extensions.Hosting;

public static class FleetCatalogExtensions
{
    /// <summary>
    /// Binds configuration section <c>Fleet</c> into <see cref="IFleetCatalog"/>. A pool that lists no engines gets
    /// them from service-discovery configuration (<c>services:{pool}:http:{k}</c>, then <c>https</c>; ids
    /// <c>{pool}-{k}</c>), so one binary runs under the AppHost, Aspire or Kubernetes. Validated at start.
    /// </summary>
    public static IServiceCollection AddFleetCatalog(this IServiceCollection services)
    {
        services.AddOptions<FleetCatalogOptions>()
            .BindConfiguration(FleetCatalogOptions.SectionName)
            .PostConfigure<IConfiguration>(ResolveDiscoveredEngines)
            .ValidateOnStart();
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IValidateOptions<FleetCatalogOptions>, FleetCatalogValidator>());
        services.TryAddSingleton<IFleetCatalog, FleetCatalog>();
        return services;
    }

    /// <inheritdoc cref="AddFleetCatalog(IServiceCollection)"/>
    public static IHostApplicationBuilder AddFleetCatalog(this IHostApplicationBuilder builder)
    {
        builder.Services.AddFleetCatalog();
        return builder;
    }

    internal static void ResolveDiscoveredEngines(FleetCatalogOptions options, IConfiguration configuration)
    {
        foreach (var pool in options.Pools)
        {
            if (pool.Engines.Count > 0 || string.IsNullOrWhiteSpace(pool.Name))
            {
                continue;
            }

            foreach (var scheme in (ReadOnlySpan<string>)["http", "https"])
            {
                var endpoints = configuration.GetSection($"services:{pool.Name}:{scheme}");
                var values = endpoints.GetChildren()
                    .Where(c => c.Value is not null && int.TryParse(c.Key, out _))
                    .OrderBy(c => int.Parse(c.Key, System.Globalization.CultureInfo.InvariantCulture))
                    .ToList();
                if (values.Count == 0)
                {
                    continue;
                }

                foreach (var value in values)
                {
                    pool.Engines.Add(new FleetEngineOptions { Id = $"{pool.Name}-{value.Key}", Url = value.Value });
                }

                pool.EnginesDiscovered = true;
                break;
            }
        }
    }
}
