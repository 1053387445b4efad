using System.Net.Http.Headers;
using System.Reflection;
using System.Text.Json;
using Platform.FaultSuite.Drills;

namespace Platform.FaultSuite.Tests.Support;

/// <summary>
/// The whole topology (Redis, four EngineSim engines, the classifier, the HealthScorer, the watchdog, the gateway)
/// started once as a real AppHost process with dynamic ports, for every fault drill. Drills run one after another; each
/// puts back what it broke and starts with <see cref="WaitServingAsync"/>.
/// </summary>
public sealed class TopologyFixture : IAsyncLifetime
{
    public static readonly TimeSpan ReadyTimeout = TimeSpan.FromSeconds(180);

    /// <summary>How long a drill waits for the platform to be whole again (a watchdog restart in progress included).</summary>
    public static readonly TimeSpan ServingTimeout = TimeSpan.FromSeconds(180);

    /// <summary>
    /// The watchdog's settings for the drills; every other setting is its production default (services/Watchdog/README.md).
    /// A hang is confirmed with a 3 s deep probe (default 5 s) and KV drift judged over 10 s (default 60 s), so a drill
    /// sees the whole procedure in tens of seconds; and the suite restarts engines on purpose several times within an
    /// hour (faults 2, 3 and 9, and whatever fault 7's hang makes the watchdog do), so the restart budget is 20 an hour
    /// and the back-off starts at 1 s (defaults 3 and 30 s, which would defer or escalate a drill's restart because of an
    /// earlier drill's).
    /// </summary>
    public static readonly IReadOnlyDictionary<string, string> WatchdogSettings = new Dictionary<string, string>
    {
        ["Watchdog__Detectors__Hung__ProbeTimeout"] = "00:00:03",
        ["Watchdog__Detectors__KvDrift__Window"] = "00:00:10",
        ["Watchdog__Budget__MaxRestartsPerHour"] = "20",
        ["Watchdog__Budget__InitialBackoff"] = "00:00:01",
    };

    private static readonly string AppHostDll =
        typeof(TopologyFixture).Assembly.GetCustomAttributes<AssemblyMetadataAttribute>().First(a => a.Key == "AppHostOutput").Value!;

    internal PlatformProcess Platform { get; private set; } = null!;

    internal WatchdogApi Watchdog { get; private set; } = null!;

    public async ValueTask InitializeAsync()
    {
        Platform = await PlatformProcess.StartAsync(AppHostDll, ReadyTimeout, WatchdogSettings, "--stop-timeout-ms", "3000");
        Watchdog = new WatchdogApi(Platform);
    }

    /// <summary>
    /// Waits until the platform is whole: every replica running and healthy, the watchdog leading with a fresh view and
    /// nothing in progress (an earlier drill's fault may have made it restart an engine), and every engine routable in the
    /// gateway's view (not draining, breaker closed, reachable, no KV pressure). Every drill starts with it.
    /// </summary>
    internal async Task WaitServingAsync(CancellationToken ct)
    {
        await Platform.WaitAllHealthyAsync(ServingTimeout, ct);
        using var http = new HttpClient();
        using var admin = new HttpClient { BaseAddress = Platform.Gateway };
        admin.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", PlatformProcess.AdminKey);
        await Wait.UntilAsync(
            async () => await Watchdog.IsQuietAsync(http, ct) && !await AnyOutAsync(admin, ct),
            ServingTimeout,
            "the watchdog quiet, and every engine routable in the gateway's view (not draining, breaker closed, reachable, no pressure)",
            ct);
        await Platform.WaitAllHealthyAsync(ServingTimeout, ct);
    }

    public async ValueTask DisposeAsync()
    {
        Watchdog?.Dispose();
        if (Platform is not null)
        {
            await Platform.DisposeAsync();
        }
    }

    /// <summary>In the gateway's view (<c>/admin/fleet</c>): an engine draining, its breaker not closed, unreachable or under pressure.</summary>
    private static async Task<bool> AnyOutAsync(HttpClient admin, CancellationToken ct)
    {
        using var fleet = JsonDocument.Parse(await admin.GetStringAsync("/admin/fleet", ct));
        return fleet.RootElement.GetProperty("engines").EnumerateArray().Any(e =>
            e.GetProperty("draining").GetBoolean()
            || e.GetProperty("breaker").GetProperty("state").GetString() != "closed"
            || (e.GetProperty("health") is { ValueKind: JsonValueKind.Object } health
                && (!health.GetProperty("reachable").GetBoolean() || health.GetProperty("pressure").GetString() != "normal")));
    }
}

[CollectionDefinition(Name)]
public sealed class TopologyCollection : ICollectionFixture<TopologyFixture>
{
    public const string Name = "topology";
}
