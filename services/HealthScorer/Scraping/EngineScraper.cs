using System.Diagnostics;
using System.Net.Http.Headers;
using System.Text.Json;
using Microsoft.Extensions.Options;
using Platform.HealthScorer.Scoring;

namespace Platform.HealthScorer.Scraping;

/// <summary>What is kept per engine between scrapes: the parsed series and the body buffer (both reused).</summary>
internal sealed class ScrapeBuffers
{
    public VllmScrape Metrics { get; } = new();

    public byte[] Body { get; set; } = new byte[64 * 1024];
}

/// <summary>
/// One engine's scrape: <c>GET /metrics</c> (the text format vLLM serves, read into a reused buffer up to the body
/// limit) and <c>GET /health</c> at the same time, and <c>GET /version</c> when asked, all bounded by one timeout.
/// Every failure comes back as a <see cref="ScrapeOutcome"/>; a caller's cancellation is the only exception.
/// </summary>
internal sealed class EngineScraper(IHttpClientFactory httpClientFactory, IOptions<HealthScorerOptions> options, TimeProvider timeProvider)
{
    /// <summary>Named client without resilience handlers: a retry would hide exactly what a scrape is meant to see.</summary>
    public const string HttpClientName = "platform-healthscorer-scrape";

    private static readonly MediaTypeWithQualityHeaderValue TextFormat = MediaTypeWithQualityHeaderValue.Parse("text/plain; version=0.0.4");

    public async Task<ScrapeOutcome> ScrapeAsync(Uri baseUri, ScrapeBuffers buffers, bool readVersion, CancellationToken cancellationToken)
    {
        var o = options.Value;
        var started = Stopwatch.GetTimestamp();
        using var timeout = new CancellationTokenSource(o.ScrapeTimeout, timeProvider);
        using var linked = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, timeout.Token);
        var client = httpClientFactory.CreateClient(HttpClientName);

        var health = HealthAsync(client, baseUri, linked.Token);
        var version = readVersion ? VersionAsync(client, baseUri, linked.Token) : Task.FromResult<string?>(null);
        var (failure, detail, length) = await MetricsAsync(client, baseUri, buffers, o, linked.Token, cancellationToken).ConfigureAwait(false);
        var (healthOk, healthDetail) = await health.ConfigureAwait(false);
        var versionText = await version.ConfigureAwait(false);

        VllmScrape? metrics = null;
        if (failure == ScrapeFailure.None)
        {
            buffers.Metrics.Read(buffers.Body.AsSpan(0, length), o.MaxLineBytes);
            if (buffers.Metrics.Truncated)
            {
                failure = ScrapeFailure.Truncated;
                detail = $"/metrics: body cut in the middle of a line ({length} bytes)";
            }
            else
            {
                metrics = buffers.Metrics;
            }
        }

        if (failure == ScrapeFailure.None && !healthOk)
        {
            failure = ScrapeFailure.Health;
            detail = healthDetail;
        }

        cancellationToken.ThrowIfCancellationRequested();
        return new ScrapeOutcome(failure, detail, metrics, healthOk, versionText, Stopwatch.GetElapsedTime(started));
    }

    private static async Task<(ScrapeFailure Failure, string Detail, int Length)> MetricsAsync(
        HttpClient client, Uri baseUri, ScrapeBuffers buffers, HealthScorerOptions o, CancellationToken token, CancellationToken callerToken)
    {
        try
        {
            using var request = new HttpRequestMessage(HttpMethod.Get, new Uri(baseUri, "metrics"));
            request.Headers.Accept.Add(TextFormat);
            using var response = await client.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, token).ConfigureAwait(false);
            if (!response.IsSuccessStatusCode)
            {
                return (ScrapeFailure.HttpStatus, $"/metrics: HTTP {(int)response.StatusCode}", 0);
            }

            if (response.Content.Headers.ContentLength > o.MaxBodyBytes)
            {
                return (ScrapeFailure.BodyTooLarge, $"/metrics: body of {response.Content.Headers.ContentLength} bytes is over the {o.MaxBodyBytes}-byte limit", 0);
            }

            var stream = await response.Content.ReadAsStreamAsync(token).ConfigureAwait(false);
            await using (stream.ConfigureAwait(false))
            {
                var buffer = buffers.Body;
                var length = 0;
                while (true)
                {
                    if (length == buffer.Length)
                    {
                        if (buffer.Length > o.MaxBodyBytes)
                        {
                            return (ScrapeFailure.BodyTooLarge, $"/metrics: body over the {o.MaxBodyBytes}-byte limit", 0);
                        }

                        // One byte past the limit tells "exactly at the limit" from "over it".
                        Array.Resize(ref buffer, (int)Math.Min((long)o.MaxBodyBytes + 1, buffer.Length * 2L));
                        buffers.Body = buffer;
                    }

                    var read = await stream.ReadAsync(buffer.AsMemory(length), token).ConfigureAwait(false);
                    if (read == 0)
                    {
                        break;
                    }

                    length += read;
                }

                return length > o.MaxBodyBytes
                    ? (ScrapeFailure.BodyTooLarge, $"/metrics: body over the {o.MaxBodyBytes}-byte limit", 0)
                    : (ScrapeFailure.None, string.Empty, length);
            }
        }
        catch (OperationCanceledException) when (!callerToken.IsCancellationRequested)
        {
            return (ScrapeFailure.Timeout, $"/metrics: no answer within {o.ScrapeTimeout.TotalMilliseconds:F0} ms", 0);
        }
        catch (HttpRequestException ex)
        {
            return (ScrapeFailure.Connect, $"/metrics: {ex.HttpRequestError}", 0);
        }
        catch (IOException)
        {
            return (ScrapeFailure.Connect, "/metrics: connection lost while reading the body", 0);
        }
    }

    private static async Task<(bool Ok, string Detail)> HealthAsync(HttpClient client, Uri baseUri, CancellationToken token)
    {
        try
        {
            using var response = await client.GetAsync(new Uri(baseUri, "health"), HttpCompletionOption.ResponseContentRead, token).ConfigureAwait(false);
            return response.IsSuccessStatusCode ? (true, string.Empty) : (false, $"/health: HTTP {(int)response.StatusCode}");
        }
        catch (OperationCanceledException)
        {
            return (false, "/health: no answer in time");
        }
        catch (Exception ex) when (ex is HttpRequestException or IOException)
        {
            return (false, "/health: " + (ex is HttpRequestException h ? h.HttpRequestError.ToString() : "connection lost"));
        }
    }

    /// <summary>vLLM's <c>{"version": "0.11.0"}</c>; null when it cannot be read (not a failure of the scrape).</summary>
    private static async Task<string?> VersionAsync(HttpClient client, Uri baseUri, CancellationToken token)
    {
        try
        {
            var bytes = await client.GetByteArrayAsync(new Uri(baseUri, "version"), token).ConfigureAwait(false);
            using var json = JsonDocument.Parse(bytes);
            return json.RootElement.ValueKind == JsonValueKind.Object
                && json.RootElement.TryGetProperty("version", out var v) && v.ValueKind == JsonValueKind.String
                ? v.GetString()
                : null;
        }
        catch (Exception ex) when (ex is OperationCanceledException or HttpRequestException or IOException or JsonException)
        {
            return null;
        }
    }
}
