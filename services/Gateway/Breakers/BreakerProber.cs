using System.Text;
using System.Text.Json;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Platform.Fleet.Catalog;
using Platform.Fleet.State;

namespace Platform.Gateway.Breakers;

/// <summary>
/// Every interval, for each engine whose breaker is half-open: takes the probe lease (exactly one replica gets it)
/// and sends a real 1-token generation with a short timeout; its success closes the breaker, its failure re-opens it.
/// A /health answer proves nothing about generation, so it is not used.
/// </summary>
internal sealed partial class BreakerProber(
    IFleetCatalog catalog,
    IFleetState fleetState,
    BreakerRecorder recorder,
    IHttpClientFactory httpClientFactory,
    IOptions<BreakerOptions> options,
    TimeProvider timeProvider,
    ILogger<BreakerProber> logger) : BackgroundService
{
    // Read when used (see EngineMetricsScraper): start-up validation reports every wrong setting at once.
    private BreakerOptions Options => options.Value;

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        using var timer = new PeriodicTimer(Options.ProbeInterval, timeProvider);
        while (await timer.WaitForNextTickAsync(stoppingToken).ConfigureAwait(false))
        {
            try
            {
                await ProbeHalfOpenAsync(stoppingToken).ConfigureAwait(false);
            }
            catch (Exception ex) when (ex is not OperationCanceledException || !stoppingToken.IsCancellationRequested)
            {
                // One bad round must not stop the host (a background service's exception does by default).
                LogRoundFailed(logger, ex);
            }
        }
    }

    /// <summary>One round: probes every half-open engine this replica wins the lease for; returns how many it probed.</summary>
    public async Task<int> ProbeHalfOpenAsync(CancellationToken cancellationToken)
    {
        var probed = 0;
        foreach (var engine in catalog.Engines)
        {
            if (fleetState.GetBreaker(engine.Id).State != BreakerState.HalfOpen)
            {
                continue;
            }

            try
            {
                if (!await fleetState.TryAcquireProbeLeaseAsync(engine.Id, cancellationToken).ConfigureAwait(false))
                {
                    continue;
                }

                var (success, detail) = await ProbeAsync(engine, cancellationToken).ConfigureAwait(false);
                var snapshot = await fleetState.CompleteProbeAsync(engine.Id, success, detail, cancellationToken).ConfigureAwait(false);
                recorder.Observe(engine.Id, snapshot);
                LogProbed(logger, engine.Id, success, detail ?? "ok");
                probed++;
            }
            catch (Exception ex) when (ex is not OperationCanceledException || !cancellationToken.IsCancellationRequested)
            {
                LogProbeError(logger, engine.Id, ex);
            }
        }

        return probed;
    }

    private async Task<(bool Success, string? Detail)> ProbeAsync(EngineInfo engine, CancellationToken cancellationToken)
    {
        using var timeout = new CancellationTokenSource(Options.ProbeTimeout, timeProvider);
        using var linked = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, timeout.Token);
        var body = JsonSerializer.Serialize(new ProbeRequest(engine.Model, "ping", 1), ProbeJsonContext.Default.ProbeRequest);
        try
        {
            var client = httpClientFactory.CreateClient(Extensions.StreamingHttpClientName);
            using var content = new StringContent(body, Encoding.UTF8, "application/json");
            using var response = await client.PostAsync(new Uri(engine.BaseUri, "v1/completions"), content, linked.Token).ConfigureAwait(false);
            return response.IsSuccessStatusCode ? (true, null) : (false, $"probe HTTP {(int)response.StatusCode}");
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            return (false, "probe timeout");
        }
        catch (HttpRequestException ex)
        {
            return (false, $"probe {ex.HttpRequestError}");
        }
    }

    [LoggerMessage(EventId = 3311, Level = LogLevel.Information, Message = "Probe of engine {EngineId}: success {Success} ({Detail})")]
    private static partial void LogProbed(ILogger logger, string engineId, bool success, string detail);

    [LoggerMessage(EventId = 3313, Level = LogLevel.Error, Message = "A probe round failed")]
    private static partial void LogRoundFailed(ILogger logger, Exception exception);

    [LoggerMessage(EventId = 3312, Level = LogLevel.Warning, Message = "Probing engine {EngineId} failed")]
    private static partial void LogProbeError(ILogger logger, string engineId, Exception exception);
}

/// <summary>The probe: 1 token, greedy, not streamed.</summary>
internal sealed record ProbeRequest(
    [property: System.Text.Json.Serialization.JsonPropertyName("model")] string Model,
    [property: System.Text.Json.Serialization.JsonPropertyName("prompt")] string Prompt,
    [property: System.Text.Json.Serialization.JsonPropertyName("max_tokens")] int MaxTokens);

[System.Text.Json.Serialization.JsonSerializable(typeof(ProbeRequest))]
internal sealed partial class ProbeJsonContext : System.Text.Json.Serialization.JsonSerializerContext;
