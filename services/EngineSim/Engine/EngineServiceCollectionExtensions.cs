using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Platform.EngineSim.Faults;
using Platform.EngineSim.Text;

namespace Platform.EngineSim.Engine;

internal static class EngineServiceCollectionExtensions
{
    /// <summary>
    /// Registers the simulated engine: the tokenizer, the fault controller (starting with
    /// <paramref name="initialFaults"/>), <see cref="TimeProvider.System"/> unless a clock is registered, and
    /// one <see cref="SimEngine"/> serving as <see cref="IInferenceEngine"/> and as the hosted service that
    /// runs its scheduler loop.
    /// </summary>
    public static IServiceCollection AddSimEngine(this IServiceCollection services, EngineOptions options, FaultSettings initialFaults)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(initialFaults);
        services.TryAddSingleton(TimeProvider.System);
        services.TryAddSingleton(options);
        services.TryAddSingleton<ISimTokenizer, SimTokenizer>();
        services.TryAddSingleton(new FaultController(initialFaults));
        services.TryAddSingleton(sp => new SimEngine(
            sp.GetRequiredService<EngineOptions>(),
            sp.GetRequiredService<FaultController>(),
            sp.GetRequiredService<ISimTokenizer>(),
            sp.GetRequiredService<TimeProvider>(),
            sp.GetRequiredService<ILogger<SimEngine>>()));
        services.TryAddSingleton<IInferenceEngine>(sp => sp.GetRequiredService<SimEngine>());
        services.AddHostedService(sp => sp.GetRequiredService<SimEngine>());
        return services;
    }
}
