using Microsoft.Extensions.DependencyInjection;
using Platform.EngineSim.Cli;
using Platform.EngineSim.Engine;

namespace Platform.EngineSim.Tests.Fixtures;

/// <summary>Registers the real simulated engine, as Program does.</summary>
internal static class RealEngine
{
    public static void Add(IServiceCollection services, SimSettings settings) =>
        services.AddSimEngine(settings.Engine, settings.Faults);
}
