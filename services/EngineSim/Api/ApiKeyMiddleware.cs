using System.Security.Cryptography;
using System.Text;
using Microsoft.AspNetCore.Http;

namespace Platform.EngineSim.Api;

/// <summary>
/// vLLM's AuthenticationMiddleware: with --api-key (or VLLM_API_KEY) set, every path under /v1 needs
/// "Authorization: Bearer KEY" (scheme case-insensitive) and otherwise gets 401 {"error": "Unauthorized"}.
/// OPTIONS requests and paths outside /v1 (/health, /metrics, /tokenize, /admin) are not checked.
/// Keys are compared as SHA-256 digests in constant time.
/// </summary>
internal sealed class ApiKeyMiddleware(RequestDelegate next, string apiKey)
{
    private static readonly byte[] UnauthorizedBody = """{"error":"Unauthorized"}"""u8.ToArray();

    private readonly byte[] _keyHash = SHA256.HashData(Encoding.UTF8.GetBytes(apiKey));

    public Task InvokeAsync(HttpContext http)
    {
        if (HttpMethods.IsOptions(http.Request.Method)
            || !http.Request.Path.StartsWithSegments("/v1", StringComparison.Ordinal)
            || IsAuthorized(http.Request.Headers.Authorization))
        {
            return next(http);
        }

        http.Response.StatusCode = StatusCodes.Status401Unauthorized;
        http.Response.ContentType = "application/json";
        http.Response.ContentLength = UnauthorizedBody.Length;
        return http.Response.Body.WriteAsync(UnauthorizedBody, http.RequestAborted).AsTask();
    }

    private bool IsAuthorized(string? header)
    {
        if (string.IsNullOrEmpty(header))
        {
            return false;
        }

        var space = header.IndexOf(' ', StringComparison.Ordinal);
        if (space < 0 || !header.AsSpan(0, space).Equals("bearer", StringComparison.OrdinalIgnoreCase))
        {
            return false;
        }

        var hash = SHA256.HashData(Encoding.UTF8.GetBytes(header[(space + 1)..]));
        return CryptographicOperations.FixedTimeEquals(hash, _keyHash);
    }
}
