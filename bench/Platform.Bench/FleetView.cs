using System.Globalization;
using System.Net.Http.Headers;
using System.Net.Sockets;
using System.Text;
using System.Text.Json;

namespace Platform.Bench;

/// <summary>One engine's breaker as a gateway replica holds it (its router decides on exactly this).</summary>
/// <param name="ChangedAtMs">When this replica applied the latest change, Unix ms on its clock (null: never changed).</param>
internal readonly record struct BreakerView(string State, long Version, double? OpenedAtMs, double? ChangedAtMs);

/// <summary>A gateway replica's view of the fleet, read from its admin endpoint <c>GET /admin/fleet</c>.</summary>
internal sealed record FleetView(double AtMs, bool RedisAvailable, IReadOnlyDictionary<string, BreakerView> Breakers)
{
    public const string AdminKey = "sk-bench-admin-0123456789";

    /// <summary>Gateway settings that enable the admin endpoint with <see cref="AdminKey"/>.</summary>
    public static KeyValuePair<string, string> Setting => new("Gateway__Admin__Key", AdminKey);

    public static async Task<FleetView> ReadAsync(HttpClient http, BenchProcess gateway, CancellationToken ct)
    {
        using var request = new HttpRequestMessage(HttpMethod.Get, new Uri(gateway.BaseUri, "admin/fleet"));
        request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", AdminKey);
        using var response = await http.SendAsync(request, ct);
        response.EnsureSuccessStatusCode();
        using var json = JsonDocument.Parse(await response.Content.ReadAsStreamAsync(ct));
        var root = json.RootElement;
        var breakers = new Dictionary<string, BreakerView>(StringComparer.Ordinal);
        foreach (var engine in root.GetProperty("engines").EnumerateArray())
        {
            var b = engine.GetProperty("breaker");
            breakers[engine.GetProperty("id").GetString()!] = new BreakerView(
                b.GetProperty("state").GetString()!,
                b.GetProperty("version").GetInt64(),
                b.GetProperty("openedAtMs") is { ValueKind: JsonValueKind.Number } o ? o.GetDouble() : null,
                b.GetProperty("changedAtMs") is { ValueKind: JsonValueKind.Number } c ? c.GetDouble() : null);
        }

        return new FleetView(root.GetProperty("atMs").GetDouble(), root.GetProperty("redisAvailable").GetBoolean(), breakers);
    }

    public static double NowMs() => (DateTimeOffset.UtcNow - DateTimeOffset.UnixEpoch).TotalMilliseconds;
}

/// <summary>Reads a breaker straight from Redis (HMGET over RESP), to see what a replica has written there.</summary>
internal static class RedisBreaker
{
    /// <summary>(state, version) of <c>platform:fleet:breaker:{engine}</c>; null when absent or Redis does not answer.</summary>
    public static async Task<(string State, long Version)?> ReadAsync(BenchProcess redis, string engineId, CancellationToken ct)
    {
        var key = "platform:fleet:breaker:" + engineId;
        var command = $"*4\r\n$5\r\nHMGET\r\n${Encoding.UTF8.GetByteCount(key)}\r\n{key}\r\n$5\r\nstate\r\n$3\r\nver\r\n";
        try
        {
            using var client = new TcpClient();
            await client.ConnectAsync(redis.BaseUri.Host, redis.BaseUri.Port, ct);
            var stream = client.GetStream();
            await stream.WriteAsync(Encoding.ASCII.GetBytes(command), ct);
            using var reader = new StreamReader(stream, Encoding.UTF8);
            if (await reader.ReadLineAsync(ct) != "*2")
            {
                return null;
            }

            var values = new string?[2];
            for (var i = 0; i < 2; i++)
            {
                var header = await reader.ReadLineAsync(ct);
                values[i] = header is null || header == "$-1" ? null : await reader.ReadLineAsync(ct);
            }

            return values[0] is { } state && long.TryParse(values[1], NumberStyles.Integer, CultureInfo.InvariantCulture, out var version)
                ? (state, version)
                : null;
        }
        catch (Exception e) when (e is SocketException or IOException)
        {
            return null;
        }
    }
}
