using System.Diagnostics;
using System.Globalization;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;
using Microsoft.Extensions.Options;
using Platform.Fleet.Catalog;
using Platform.Watchdog.Actions;

namespace Platform.Watchdog.Probing;

/// <summary>An engine's own count of requests in flight and its generated-token counter, from its /metrics.</summary>
internal readonly record struct InFlight(double Running, double Waiting, double GenerationTokensTotal)
{
    public double Total => Running + Waiting;
}

/// <summary>The outcome of a 1-token generation.</summary>
internal readonly record struct GenerationProbe(bool Succeeded, TimeSpan Elapsed, string Detail);

/// <summary>What the watchdog asks an engine directly (not through the HealthScorer): replaced by fakes in unit tests.</summary>
internal interface IEngineProbe
{
    /// <summary>vllm:num_requests_running, _waiting and generation_tokens_total summed over ranks; null when unreachable.</summary>
    Task<InFlight?> ReadInFlightAsync(EngineInfo engine, CancellationToken cancellationToken);

    /// <summary>True when GET /health answers 200.</summary>
    Task<bool> IsHealthyAsync(EngineInfo engine, CancellationToken cancellationToken);

    /// <summary>A 1-token completion (the deep probe and the warm-up) that must answer within <paramref name="timeout"/>.</summary>
    Task<GenerationProbe> GenerateOneTokenAsync(EngineInfo engine, TimeSpan timeout, CancellationToken cancellationToken);
}

/// <summary>The engine's OpenAI API and /metrics over HTTP (vLLM's names; EngineSim serves the same).</summary>
internal sealed class HttpEngineProbe(IHttpClientFactory httpClientFactory, IOptions<WatchdogOptions> options) : IEngineProbe
{
    public const string HttpClientName = "watchdog-engine-probe";

    private static readonly TimeSpan ReadTimeout = TimeSpan.FromSeconds(2);

    public async Task<InFlight?> ReadInFlightAsync(EngineInfo engine, CancellationToken cancellationToken)
    {
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeout.CancelAfter(ReadTimeout);
        try
        {
            using var response = await Client().GetAsync(new Uri(engine.BaseUri, "metrics"), timeout.Token).ConfigureAwait(false);
            if (!response.IsSuccessStatusCode)
            {
                return null;
            }

            var text = await response.Content.ReadAsStringAsync(timeout.Token).ConfigureAwait(false);
            return MetricsText.ReadInFlight(text);
        }
        catch (Exception ex) when (ex is HttpRequestException or OperationCanceledException && !cancellationToken.IsCancellationRequested)
        {
            return null;
        }
    }

    public async Task<bool> IsHealthyAsync(EngineInfo engine, CancellationToken cancellationToken)
    {
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeout.CancelAfter(ReadTimeout);
        try
        {
            using var response = await Client().GetAsync(new Uri(engine.BaseUri, "health"), timeout.Token).ConfigureAwait(false);
            return response.IsSuccessStatusCode;
        }
        catch (Exception ex) when (ex is HttpRequestException or OperationCanceledException && !cancellationToken.IsCancellationRequested)
        {
            return false;
        }
    }

    public async Task<GenerationProbe> GenerateOneTokenAsync(EngineInfo engine, TimeSpan timeout, CancellationToken cancellationToken)
    {
        var clock = Stopwatch.StartNew();
        using var cts = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        cts.CancelAfter(timeout);
        var body = JsonSerializer.Serialize(new Dictionary<string, object>
        {
            ["model"] = engine.Model,
            ["prompt"] = "ping",
            ["max_tokens"] = 1,
            ["temperature"] = 0,
        });
        using var request = new HttpRequestMessage(HttpMethod.Post, new Uri(engine.BaseUri, "v1/completions"))
        {
            Content = new StringContent(body, Encoding.UTF8, "application/json"),
        };
        if (!string.IsNullOrEmpty(options.Value.EngineApiKey))
        {
            request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", options.Value.EngineApiKey);
        }

        try
        {
            using var response = await Client().SendAsync(request, cts.Token).ConfigureAwait(false);
            var text = await response.Content.ReadAsStringAsync(cts.Token).ConfigureAwait(false);
            if (!response.IsSuccessStatusCode)
            {
                return new(false, clock.Elapsed, string.Create(CultureInfo.InvariantCulture, $"status {(int)response.StatusCode}"));
            }

            using var json = JsonDocument.Parse(text);
            var tokens = json.RootElement.TryGetProperty("usage", out var usage) && usage.TryGetProperty("completion_tokens", out var c) ? c.GetInt32() : 0;
            return tokens >= 1
                ? new(true, clock.Elapsed, "ok")
                : new(false, clock.Elapsed, "no token generated");
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            return new(false, clock.Elapsed, string.Create(CultureInfo.InvariantCulture, $"no answer within {timeout.TotalSeconds:0.###} s"));
        }
        catch (HttpRequestException ex)
        {
            return new(false, clock.Elapsed, ex.HttpRequestError.ToString());
        }
        catch (JsonException)
        {
            return new(false, clock.Elapsed, "invalid JSON answer");
        }
    }

    private HttpClient Client() => httpClientFactory.CreateClient(HttpClientName);
}

/// <summary>The three vLLM series the drain needs, from the Prometheus text exposition (exact names, ranks summed).</summary>
internal static class MetricsText
{
    public static InFlight? ReadInFlight(string text)
    {
        double running = 0, waiting = 0, generated = 0;
        var seen = false;
        foreach (var raw in text.AsSpan().EnumerateLines())
        {
            var line = raw.Trim();
            if (line.IsEmpty || line[0] == '#')
            {
                continue;
            }

            var nameEnd = line.IndexOfAny('{', ' ');
            if (nameEnd <= 0)
            {
                continue;
            }

            var name = line[..nameEnd];
            ref double target = ref running;
            if (name.SequenceEqual("vllm:num_requests_running"))
            {
                target = ref running;
            }
            else if (name.SequenceEqual("vllm:num_requests_waiting"))
            {
                target = ref waiting;
            }
            else if (name.SequenceEqual("vllm:generation_tokens_total"))
            {
                target = ref generated;
            }
            else
            {
                continue;
            }

            // The value follows the label set (which may hold spaces inside quotes) or the name.
            var rest = line[nameEnd..];
            if (rest[0] == '{')
            {
                var close = rest.LastIndexOf('}');
                if (close < 0)
                {
                    continue;
                }

                rest = rest[(close + 1)..];
            }

            rest = rest.TrimStart();
            var space = rest.IndexOf(' ');
            var valueText = space < 0 ? rest : rest[..space];
            if (double.TryParse(valueText, NumberStyles.Float, CultureInfo.InvariantCulture, out var value) && !double.IsNaN(value))
            {
                target += value;
                seen = true;
            }
        }

        return seen ? new InFlight(running, waiting, generated) : null;
    }
}
