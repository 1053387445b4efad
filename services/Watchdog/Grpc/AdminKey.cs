using System.ComponentModel.DataAnnotations;
using System.Security.Cryptography;
using System.Text;
using Grpc.Core;
using Microsoft.Extensions.Options;

namespace Platform.Watchdog.Grpc;

/// <summary>
/// The operators' key (section <c>Watchdog:Admin</c>), as the gateway protects <c>/admin</c>: <c>Key</c> in clear (hashed
/// at start) or <c>KeyHash</c> (SHA-256, 64 hex digits). Without one, Drain/Undrain/Restart answer PERMISSION_DENIED.
/// </summary>
internal sealed class AdminOptions
{
    public const string SectionName = "Watchdog:Admin";

    public string? Key { get; set; }

    [RegularExpression("^[0-9a-fA-F]{64}$", ErrorMessage = "Watchdog:Admin:KeyHash must be a SHA-256 in 64 hex digits.")]
    public string? KeyHash { get; set; }
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
    }

    public bool Enabled => _hash is not null;

    /// <summary>Throws the right RpcException unless the call carries <c>authorization: Bearer {admin key}</c>.</summary>
    public void Demand(ServerCallContext context)
    {
        if (_hash is null)
        {
            throw new RpcException(new Status(StatusCode.PermissionDenied, "Operator actions are disabled: no Watchdog:Admin:Key or KeyHash is configured."));
        }

        string? header = null;
        foreach (var entry in context.RequestHeaders)
        {
            if (entry.Key == "authorization")
            {
                if (header is not null)
                {
                    header = null;
                    break;
                }

                header = entry.Value;
            }
        }

        const string Bearer = "Bearer ";
        if (header is null || !header.StartsWith(Bearer, StringComparison.OrdinalIgnoreCase)
            || !CryptographicOperations.FixedTimeEquals(SHA256.HashData(Encoding.UTF8.GetBytes(header[Bearer.Length..].Trim())), _hash))
        {
            throw new RpcException(new Status(StatusCode.Unauthenticated, "Incorrect or missing admin key: send one 'authorization: Bearer <admin key>' header."));
        }
    }
}
