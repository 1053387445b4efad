using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using Microsoft.Extensions.Options;
using Platform.Fleet.Catalog;
using Platform.Fleet.State;
using Platform.Gateway.Api;
using Platform.Gateway.Auth;
using Platform.Gateway.Health;
using Platform.Gateway.Pipeline;
using Platform.Gateway.Routing;

namespace Platform.Gateway.Admin;

/// <summary>
/// Read-only operator endpoints under <c>/admin</c>, behind the admin key (<c>Gateway:Admin</c>):
/// <c>GET /admin/fleet</c> is this replica's view of the fleet, the state its router decides on (breakers, drains,
/// health, in-flight requests, whether Redis answers). Without an admin key configured they answer 404.
/// </summary>
internal static class AdminApi
{
    private static readonly GatewayError NotEnabled =
        new(StatusCodes.Status404NotFound, GatewayErrors.InvalidRequest, "Unknown endpoint.", null, "unknown_url");

    private static readonly GatewayError InvalidAdminKey =
        new(StatusCodes.Status401Unauthorized, GatewayErrors.InvalidRequest, "Incorrect or missing admin key. Send one header 'Authorization: Bearer <admin key>'.", null, "invalid_admin_key");

    public static IEndpointRouteBuilder MapAdminApi(this IEndpointRouteBuilder endpoints)
    {
        endpoints.MapGet("/admin/fleet", FleetAsync);
        return endpoints;
    }

    private static async Task FleetAsync(HttpContext context)
    {
        var services = context.RequestServices;
        var admin = services.GetRequiredService<AdminKey>();
        if (!admin.Enabled)
        {
            await OpenAiApi.WriteErrorAsync(context.Response, NotEnabled);
            return;
        }

        if (!admin.Matches(context.Request))
        {
            await OpenAiApi.WriteErrorAsync(context.Response, InvalidAdminKey);
            return;
        }

        var catalog = services.GetRequiredService<IFleetCatalog>();
        var state = services.GetRequiredService<IFleetState>();
        var health = services.GetRequiredService<IEngineHealthView>();
        var inFlight = services.GetRequiredService<IInFlightTracker>();
        var changes = services.GetRequiredService<FleetChangeTimes>();
        var now = services.GetRequiredService<TimeProvider>().GetUtcNow();

        context.Response.ContentType = "application/json";
        context.Response.Headers.CacheControl = "no-store";
        using (var json = new Utf8JsonWriter(context.Response.BodyWriter))
        {
            json.WriteStartObject();
            json.WriteNumber("atMs", Ms(now));
            json.WriteBoolean("redisAvailable", state.RedisAvailable);
            json.WriteStartArray("engines");
            foreach (var engine in catalog.Engines)
            {
                var breaker = state.GetBreaker(engine.Id);
                json.WriteStartObject();
                json.WriteString("id", engine.Id);
                json.WriteString("pool", engine.Pool);
                json.WriteString("model", engine.Model);
                json.WriteNumber("inFlight", inFlight.Count(engine.Id));
                json.WriteBoolean("draining", state.IsDraining(engine.Id));
                json.WriteStartObject("breaker");
                json.WriteString("state", breaker.State switch
                {
                    BreakerState.Closed => "closed",
                    BreakerState.Open => "open",
                    _ => "half_open",
                });
                json.WriteNumber("version", breaker.Version);
                json.WriteNumber("consecutiveFailures", breaker.ConsecutiveFailures);
                WriteMs(json, "openedAtMs", breaker.OpenedAt);
                WriteMs(json, "retryAtMs", breaker.RetryAt);
                json.WriteString("reason", breaker.Reason);
                WriteMs(json, "changedAtMs", changes.BreakerChangedAt(engine.Id, breaker.Version));
                json.WriteEndObject();
                if (health.Get(engine.Id) is { } h)
                {
                    json.WriteStartObject("health");
                    json.WriteBoolean("reachable", h.Reachable);
                    json.WriteString("pressure", h.Pressure == PressureState.UnderPressure ? "under_pressure" : "normal");
                    WriteNumber(json, "score", h.Score);
                    WriteNumber(json, "kvCacheUsage", h.KvCacheUsage);
                    WriteNumber(json, "running", h.Running);
                    WriteNumber(json, "waiting", h.Waiting);
                    json.WriteNumber("observedAtMs", Ms(h.ObservedAt));
                    json.WriteEndObject();
                }
                else
                {
                    json.WriteNull("health");
                }

                json.WriteEndObject();
            }

            json.WriteEndArray();
            json.WriteEndObject();
        }

        await context.Response.BodyWriter.FlushAsync(context.RequestAborted);
    }

    private static double Ms(DateTimeOffset at) => (at - DateTimeOffset.UnixEpoch).TotalMilliseconds;

    private static void WriteMs(Utf8JsonWriter json, string name, DateTimeOffset? at)
    {
        if (at is { } value)
        {
            json.WriteNumber(name, Ms(value));
        }
        else
        {
            json.WriteNull(name);
        }
    }

    private static void WriteNumber(Utf8JsonWriter json, string name, double value)
    {
        if (double.IsFinite(value))
        {
            json.WriteNumber(name, value);
        }
        else
        {
            json.WriteNull(name);
        }
    }
}

/// <summary>The admin key's SHA-256 (the clear key is not kept); compared in fixed time.</summary>
internal sealed class AdminKey
{
    private readonly byte[]? _hash;

    public AdminKey(IOptions<AdminOptions> options)
    {
        var o = options.Value;
        _hash = !string.IsNullOrEmpty(o.Key) ? SHA256.HashData(Encoding.UTF8.GetBytes(o.Key))
            : !string.IsNullOrEmpty(o.KeyHash) ? Convert.FromHexString(o.KeyHash)
            : null;
        o.Key = null;
    }

    public bool Enabled => _hash is not null;

    public bool Matches(HttpRequest request)
    {
        if (_hash is null || !BearerToken.TryRead(request.Headers.Authorization, out var token))
        {
            return false;
        }

        Span<byte> utf8 = stackalloc byte[ApiKeyStore.MaxKeyLength];
        var length = Encoding.UTF8.GetBytes(token, utf8);
        Span<byte> hash = stackalloc byte[32];
        SHA256.HashData(utf8[..length], hash);
        return CryptographicOperations.FixedTimeEquals(hash, _hash);
    }
}
