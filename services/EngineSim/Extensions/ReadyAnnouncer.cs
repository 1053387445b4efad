using System.Globalization;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Platform.EngineSim.Cli;
using Platform.EngineSim.Engine;

namespace Platform.EngineSim.Extensions;

/// <summary>
/// Logs, once the server listens, the vLLM flags that were accepted but not modelled and the line
/// "EngineSim ready on http://host:port (...)" that orchestrators and people wait for.
/// </summary>
internal sealed partial class ReadyAnnouncer(
    IHostApplicationLifetime lifetime, IServer server, SimSettings settings, ILogger<ReadyAnnouncer> logger) : IHostedService
{
    public Task StartAsync(CancellationToken cancellationToken)
    {
        if (settings.IgnoredFlags.Count > 0)
        {
            LogIgnoredFlags(logger, string.Join(", ", settings.IgnoredFlags));
        }

        lifetime.ApplicationStarted.Register(Announce);
        return Task.CompletedTask;
    }

    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    /// <summary>The listening URLs as http://host:port, with the port Kestrel actually bound (for --port 0).</summary>
    public static IReadOnlyList<string> ListeningUrls(IServer server, string configuredHost)
    {
        var addresses = server.Features.Get<IServerAddressesFeature>()?.Addresses ?? [];
        var urls = new List<string>(addresses.Count);
        foreach (var address in addresses)
        {
            var uri = new Uri(address.Replace("[::]", "0.0.0.0", StringComparison.Ordinal).Replace("://+", "://0.0.0.0", StringComparison.Ordinal));
            var host = configuredHost is "" or "*" or "+" ? uri.Host : configuredHost;
            urls.Add(string.Create(CultureInfo.InvariantCulture, $"http://{host}:{uri.Port}"));
        }

        return urls;
    }

    private void Announce()
    {
        var engine = settings.Engine;
        var urls = ListeningUrls(server, settings.ListenAddressExplicit ? engine.Host : "");
        var spec = engine.Speculative is { } s
            ? string.Create(CultureInfo.InvariantCulture, $"{s.Method} {s.Model ?? "-"} k={s.NumSpeculativeTokens} draft={s.DraftKind.ToString().ToLowerInvariant()}")
            : "off";
        LogReady(logger, string.Join(", ", urls), engine.PrimaryModelName, engine.NumGpuBlocks, engine.BlockSize, engine.MaxModelLen, spec);
    }

    [LoggerMessage(EventId = 1, Level = LogLevel.Information,
        Message = "EngineSim ready on {Urls} (model {Model}, {Blocks} blocks of {BlockSize} tokens, max_model_len {MaxModelLen}, spec {Speculative})")]
    private static partial void LogReady(ILogger logger, string urls, string model, int blocks, int blockSize, int maxModelLen, string speculative);

    [LoggerMessage(EventId = 2, Level = LogLevel.Warning, Message = "Ignoring vLLM flags EngineSim does not model: {Flags}")]
    private static partial void LogIgnoredFlags(ILogger logger, string flags);
}
