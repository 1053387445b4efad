using System.Security.Cryptography;
using Platform.AppHost.Options;

namespace Platform.AppHost.Hosting;

/// <summary>The API key a local platform accepts: <c>--api-key</c>, else a random <c>sk-dev-...</c> key per run.</summary>
internal static class DevelopmentApiKey
{
    public const string Prefix = "sk-dev-";

    public static string From(AppHostOptions options) =>
        string.IsNullOrWhiteSpace(options.ApiKey) ? Prefix + RandomNumberGenerator.GetHexString(32, lowercase: true) : options.ApiKey;
}
