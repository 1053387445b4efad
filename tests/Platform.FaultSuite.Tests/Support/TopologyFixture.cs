using System.Reflection;
using Platform.FaultSuite.Drills;

namespace Platform.FaultSuite.Tests.Support;

/// <summary>
/// The whole topology (Redis, four EngineSim engines, the classifier, the HealthScorer, the gateway) started once as a
/// real AppHost process with dynamic ports, for every fault drill. Drills run one after another and each puts back
/// what it broke.
/// </summary>
public sealed class TopologyFixture : IAsyncLifetime
{
    public static readonly TimeSpan ReadyTimeout = TimeSpan.FromSeconds(180);

    private static readonly string AppHostDll =
        typeof(TopologyFixture).Assembly.GetCustomAttributes<AssemblyMetadataAttribute>().First(a => a.Key == "AppHostOutput").Value!;

    internal PlatformProcess Platform { get; private set; } = null!;

    public async ValueTask InitializeAsync() =>
        Platform = await PlatformProcess.StartAsync(AppHostDll, ReadyTimeout, "--stop-timeout-ms", "3000");

    public async ValueTask DisposeAsync()
    {
        if (Platform is not null)
        {
            await Platform.DisposeAsync();
        }
    }
}

[CollectionDefinition(Name)]
public sealed class TopologyCollection : ICollectionFixture<TopologyFixture>
{
    public const string Name = "topology";
}
