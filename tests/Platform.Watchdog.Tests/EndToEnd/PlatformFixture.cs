using Platform.Watchdog.Tests.Fixtures;

namespace Platform.Watchdog.Tests.EndToEnd;

/// <summary>
/// One platform for the end-to-end tests. The watchdog confirms a hang with a 3 s deep probe (default 5 s), judges KV
/// drift over 10 s (default 60 s), calls an engine dead after 10 s of failed checks (default 45 s), slow after a TTFT p95
/// over 1 s for 10 s (default 2 s for 120 s), probes an engine idle for 10 s every 15 s with a 3 s timeout, retried after
/// 3 s (default 60 s, 60 s, 5 s, 10 s), and backs off 5 s after a restart (default 30 s, so the tests, which restart
/// several engines in any order, do not wait on each other); the AppHost stops a replica within 2 s, so a test sees the
/// whole procedure in well under the 30 s target on a shared machine; every other setting is the default.
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
                ["Watchdog__Detectors__Dead__GracePeriod"] = "00:00:10",
                ["Watchdog__Detectors__Latency__TtftP95Budget"] = "00:00:01",
                ["Watchdog__Detectors__Latency__SustainFor"] = "00:00:10",
                ["Watchdog__IdleProbe__IdleFor"] = "00:00:10",
                ["Watchdog__IdleProbe__Interval"] = "00:00:15",
                ["Watchdog__IdleProbe__RetryInterval"] = "00:00:03",
                ["Watchdog__IdleProbe__ProbeTimeout"] = "00:00:03",
                ["Watchdog__Budget__InitialBackoff"] = "00:00:05",
            },
            "--stop-timeout-ms", "2000");
        await Platform.WaitForReadyAsync(TimeSpan.FromSeconds(240));
    }

    public async ValueTask DisposeAsync() => await Platform.DisposeAsync();
}
