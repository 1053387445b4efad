using Platform.AppHost.Tests.Support;

namespace Platform.AppHost.Tests.Integration;

/// <summary>One full platform (Redis and four engines) started as a real AppHost process for a test class.</summary>
public sealed class PlatformFixture : IAsyncLifetime
{
    public static readonly TimeSpan ReadyTimeout = TimeSpan.FromSeconds(180);

    internal AppHostProcess AppHost { get; private set; } = null!;

    public async ValueTask InitializeAsync()
    {
        AppHost = AppHostProcess.Start("--stop-timeout-ms", "3000");
        await AppHost.WaitForReadyAsync(ReadyTimeout);
    }

    public async ValueTask DisposeAsync() => await AppHost.DisposeAsync();
}
