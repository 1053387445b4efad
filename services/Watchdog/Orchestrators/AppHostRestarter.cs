using System.Globalization;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.Options;
using Platform.Fleet.Catalog;

namespace Platform.Watchdog.Orchestrators;

/// <summary>
/// The AppHost's control API: <c>POST /resources/{replica}/restart</c> stops the replica gracefully and starts it on the
/// same endpoint, answering once the new process has started. The URL comes from <c>Watchdog:Orchestrator:ControlUrl</c>
/// or <c>AppHost:ControlUrl</c> (injected by the AppHost).
/// </summary>
internal sealed class AppHostRestarter(IHttpClientFactory httpClientFactory, IOptions<OrchestratorOptions> options, IConfiguration configuration) : IEngineRestarter
{
    public const string KindName = "apphost";

    public const string HttpClientName = "watchdog-apphost";

    public string Name => KindName;

    public async Task RestartAsync(EngineInfo engine, CancellationToken cancellationToken)
    {
        var url = options.Value.ControlUrl;
        if (string.IsNullOrWhiteSpace(url))
        {
            url = configuration["AppHost:ControlUrl"];
        }

        if (string.IsNullOrWhiteSpace(url) || !Uri.TryCreate(url.TrimEnd('/') + "/", UriKind.Absolute, out var control))
        {
            throw new EngineRestartException("no AppHost control API configured (Watchdog:Orchestrator:ControlUrl or AppHost:ControlUrl)");
        }

        var target = new Uri(control, $"resources/{Uri.EscapeDataString(engine.Id)}/restart");
        try
        {
            using var response = await httpClientFactory.CreateClient(HttpClientName).PostAsync(target, content: null, cancellationToken).ConfigureAwait(false);
            if (!response.IsSuccessStatusCode)
            {
                var body = await response.Content.ReadAsStringAsync(cancellationToken).ConfigureAwait(false);
                throw new EngineRestartException(string.Create(CultureInfo.InvariantCulture,
                    $"AppHost control API answered {(int)response.StatusCode}: {Shorten(body)}"));
            }
        }
        catch (HttpRequestException ex)
        {
            throw new EngineRestartException($"AppHost control API unreachable: {ex.HttpRequestError}", ex);
        }
    }

    internal static string Shorten(string text) => text.Length <= 200 ? text : text[..200] + "...";
}
