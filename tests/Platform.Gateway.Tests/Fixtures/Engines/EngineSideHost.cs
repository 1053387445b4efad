using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Platform.Fleet.Catalog;
using Platform.Fleet.State;

namespace Platform.Gateway.Tests.Fixtures.Engines;

/// <summary>The engine side built through its DI extension, with whatever fakes a test registers first.</summary>
internal static class EngineSideHost
{
    public static IHost Build(IFleetCatalog catalog, IFleetState? state, Action<IServiceCollection>? configure = null, IDictionary<string, string?>? settings = null)
    {
        var builder = Host.CreateEmptyApplicationBuilder(new HostApplicationBuilderSettings());
        builder.Configuration.AddInMemoryCollection(settings ?? new Dictionary<string, string?>());
        builder.Services.AddLogging();
        builder.Services.AddStreamingHttpClient(Microsoft.Extensions.Hosting.Extensions.StreamingHttpClientName);
        builder.Services.AddSingleton(catalog);
        if (state is not null)
        {
            builder.Services.AddSingleton(state);
        }

        configure?.Invoke(builder.Services);
        builder.AddGatewayEngineSide();
        return builder.Build();
    }
}
