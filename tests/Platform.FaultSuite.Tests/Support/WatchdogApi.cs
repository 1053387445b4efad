using System.Globalization;
using System.Net;
using Grpc.Core;
using Grpc.Net.Client;
using Platform.FaultSuite.Drills;
using Platform.Watchdog.V1;

namespace Platform.FaultSuite.Tests.Support;

/// <summary>
/// The watchdog of the running topology, as an operator and the drills see it: its events (read from its event log,
/// stamped with its own clock), its status, and the operator actions with the admin key (the development key of the
/// AppHost's ready line).
/// </summary>
internal sealed class WatchdogApi : IDisposable
{
    private readonly GrpcChannel _channel;
    private readonly PlatformProcess _platform;

    public WatchdogApi(PlatformProcess platform)
    {
        _platform = platform;
        _channel = GrpcChannel.ForAddress(platform.Urls["watchdog"][1]);
        Client = new Watchdog.V1.Watchdog.WatchdogClient(_channel);
    }

    public Watchdog.V1.Watchdog.WatchdogClient Client { get; }

    /// <summary><c>authorization: Bearer {admin key}</c> for Drain, Undrain and Restart.</summary>
    public Metadata Admin => new() { { "authorization", "Bearer " + _platform.ApiKey } };

    /// <summary>The sequence of the newest event (0 when none): events after it are the drill's.</summary>
    public async Task<ulong> LastSequenceAsync(CancellationToken ct) =>
        (await Client.ListEventsAsync(new ListEventsRequest { Limit = 1 }, cancellationToken: ct)).Events.LastOrDefault()?.Sequence ?? 0;

    /// <summary>Events after <paramref name="since"/>, oldest first, of one engine or all.</summary>
    public async Task<List<Event>> EventsSinceAsync(ulong since, string? engineId, CancellationToken ct) =>
        [.. (await Client.ListEventsAsync(new ListEventsRequest { Limit = 1000, EngineId = engineId ?? "" }, cancellationToken: ct)).Events.Where(e => e.Sequence > since)];

    /// <summary>Waits for the first event of <paramref name="engineId"/> after <paramref name="since"/> that matches.</summary>
    public async Task<Event> WaitForEventAsync(ulong since, string engineId, Func<Event, bool> match, TimeSpan timeout, string what, CancellationToken ct)
    {
        Event? found = null;
        await Wait.UntilAsync(
            async () => (found = (await EventsSinceAsync(since, engineId, ct)).FirstOrDefault(match)) is not null, timeout, what, ct);
        return found!;
    }

    /// <summary>
    /// The watchdog leads, has a fresh HealthScorer view (its /health says Healthy, so it would act) and has nothing in
    /// progress: every engine serving, none drained by it or an operator.
    /// </summary>
    public async Task<bool> IsQuietAsync(HttpClient http, CancellationToken ct)
    {
        try
        {
            using var health = await http.GetAsync(new Uri(new Uri(_platform.Urls["watchdog"][0]), "health"), ct);
            if (health.StatusCode != HttpStatusCode.OK || await health.Content.ReadAsStringAsync(ct) != "Healthy")
            {
                return false;
            }

            var status = await Client.GetStatusAsync(new GetStatusRequest(), cancellationToken: ct);
            return status.Leader && status.Engines.All(e => e.State == EngineState.Serving);
        }
        catch (Exception ex) when (ex is HttpRequestException or RpcException)
        {
            return false;
        }
    }

    public void Dispose() => _channel.Dispose();

    /// <summary>"+12.34 s" from <paramref name="origin"/> to the event's own time.</summary>
    public static string Offset(Event e, DateTimeOffset origin) =>
        string.Create(CultureInfo.InvariantCulture, $"+{(e.At.ToDateTimeOffset() - origin).TotalSeconds,6:0.00} s");

    public static TimeSpan Since(Event e, DateTimeOffset origin) => e.At.ToDateTimeOffset() - origin;

    public static bool Ends(Event e) => e.Kind is EventKind.Undrained or EventKind.Failed or EventKind.Escalated;
}

/// <summary>Small readings of the machine and the services' Prometheus text.</summary>
internal static class Readings
{
    /// <summary>The 1-minute load average (the figures of a shared machine mean little without it).</summary>
    public static string LoadAverage() => File.ReadAllText("/proc/loadavg").Split(' ')[0];

    /// <summary>Sum of every sample of <paramref name="name"/> whose label set contains <paramref name="labels"/>.</summary>
    public static double Sum(string exposition, string name, string? labels = null)
    {
        double sum = 0;
        foreach (var line in exposition.Split('\n'))
        {
            if (!line.StartsWith(name, StringComparison.Ordinal) || line.Length <= name.Length || (line[name.Length] != '{' && line[name.Length] != ' ')
                || (labels is not null && !line.Contains(labels, StringComparison.Ordinal)))
            {
                continue;
            }

            if (double.TryParse(line[(line.LastIndexOf(' ') + 1)..], NumberStyles.Float, CultureInfo.InvariantCulture, out var v))
            {
                sum += v;
            }
        }

        return sum;
    }

    /// <summary>The gateway's retries (before the first token) and continuations (after it) so far.</summary>
    public static async Task<(double Retries, double Continued)> GatewayRescuesAsync(HttpClient http, PlatformProcess platform, CancellationToken ct)
    {
        var text = await http.GetStringAsync(new Uri(platform.Gateway, "metrics"), ct);
        return (Sum(text, "platform_gateway_retries_total"), Sum(text, "platform_gateway_continuations_total", "outcome=\"continued\""));
    }
}
