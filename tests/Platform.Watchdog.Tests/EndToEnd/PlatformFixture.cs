using Platform.Watchdog.Tests.Fixtures;

namespace Platform.Watchdog.Tests.EndToEnd;

/// <summary>
/// One platform for the end-to-end tests. The watchdog confirms a hang with a 3 s deep probe (default 5 s) and judges KV
/// drift over 10 s (default 60 s), and the AppHost stops a replica within 2 s, so a test sees the whole procedure in
/// well under the 30 s target on a shared machine; every other setting is the default.
/// </summary>
public sealed class PlatformFixture : IAsyncLifetime
{
    internal PlatformProcess Platform { get; private set; } = null!;

    public async ValueTask InitializeAsync()
    {
        Platform = PlatformProcess.Start(
            new Dictionary<string, string>
            {
                ["Watchdog__Detectors__Hung__ProbeTimeout"] = "00:00:03",
                ["Watchdog__Detectors__KvDrift__Window"] = "00:00:10",
            },
            "--stop-timeout-ms", "2000");
        await Platform.WaitForReadyAsync(TimeSpan.FromSeconds(240));
    }

    public async ValueTask DisposeAsync() => await Platform.DisposeAsync();
}
