using System.Diagnostics;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;

namespace Platform.Bench;

/// <summary>What one streamed request measured, client side; Engine is the gateway's x-platform-engine header (null direct).</summary>
/// GatewayMs is the gateway's own share of the time to first token from its Server-Timing header (NaN direct).
internal readonly record struct StreamResult(bool Ok, string? Error, double TtftMs, double DurationMs, int Tokens, bool Fallback, string? Engine = null, double GatewayMs = double.NaN, double EngineMs = double.NaN);

/// <summary>
/// One OpenAI streaming chat request (SSE), timed from the request's start to the first content delta and to
/// [DONE]. Any stream that does not end with a finish_reason, a usage chunk and [DONE] is an error.
/// </summary>
internal static class StreamClient
{
    /// <summary>The benchmarks' streaming chat body: one user message, exactly max_tokens (ignore_eos), usage asked.</summary>
    public static string ChatBody(string model, string prompt, int maxTokens) => JsonSerializer.Serialize(new
    {
        model,
        messages = new[] { new { role = "user", content = prompt } },
        max_tokens = maxTokens,
        ignore_eos = true,
        stream = true,
        stream_options = new { include_usage = true },
    });

    public static async Task<StreamResult> ChatAsync(HttpClient http, Uri baseUri, string? apiKey, string model, string prompt, int maxTokens, CancellationToken ct)
    {
        var body = ChatBody(model, prompt, maxTokens);
        var started = Stopwatch.GetTimestamp();
        double ttft = -1;
        try
        {
            using var request = new HttpRequestMessage(HttpMethod.Post, new Uri(baseUri, "v1/chat/completions"))
            {
                Content = new StringContent(body, Encoding.UTF8, "application/json"),
            };
            if (apiKey is not null)
            {
                request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", apiKey);
            }

            using var response = await http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, ct);
            if (!response.IsSuccessStatusCode)
            {
                return new StreamResult(false, $"HTTP {(int)response.StatusCode}", 0, 0, 0, false);
            }

            var fallback = response.Headers.TryGetValues("x-platform-fallback", out var values) && values.Contains("true");
            var engine = response.Headers.TryGetValues("x-platform-engine", out var engines) ? engines.FirstOrDefault() : null;
            var timed = response.Headers.TryGetValues("Server-Timing", out var timings);
            var gatewayMs = timed ? ServerTiming(timings!, "gateway") : double.NaN;
            var engineMs = timed ? ServerTiming(timings!, "engine") : double.NaN;
            await using var stream = await response.Content.ReadAsStreamAsync(ct);
            using var reader = new StreamReader(stream, Encoding.UTF8);
            var finished = false;
            var tokens = -1;
            while (await reader.ReadLineAsync(ct) is { } line)
            {
                if (!line.StartsWith("data: ", StringComparison.Ordinal))
                {
                    continue;
                }

                if (line.AsSpan(6).SequenceEqual("[DONE]"))
                {
                    var total = Stopwatch.GetElapsedTime(started).TotalMilliseconds;
                    return finished && tokens > 0
                        ? new StreamResult(true, null, ttft, total, tokens, fallback, engine, gatewayMs, engineMs)
                        : new StreamResult(false, "incomplete stream", ttft, total, tokens, fallback, engine);
                }

                using var json = JsonDocument.Parse(line.AsMemory(6));
                var root = json.RootElement;
                if (root.TryGetProperty("error", out _))
                {
                    return new StreamResult(false, "error event", ttft, 0, tokens, fallback);
                }

                if (root.TryGetProperty("choices", out var choices) && choices.GetArrayLength() > 0)
                {
                    var choice = choices[0];
                    if (ttft < 0 && choice.TryGetProperty("delta", out var delta)
                        && delta.TryGetProperty("content", out var content) && content.GetString() is { Length: > 0 })
                    {
                        ttft = Stopwatch.GetElapsedTime(started).TotalMilliseconds;
                    }

                    if (choice.TryGetProperty("finish_reason", out var reason) && reason.ValueKind == JsonValueKind.String)
                    {
                        finished = true;
                    }
                }

                if (root.TryGetProperty("usage", out var usage) && usage.ValueKind == JsonValueKind.Object)
                {
                    tokens = usage.GetProperty("completion_tokens").GetInt32();
                }
            }

            return new StreamResult(false, "no [DONE]", ttft, 0, tokens, fallback);
        }
        catch (Exception e) when (e is HttpRequestException or IOException or JsonException)
        {
            return new StreamResult(false, e.GetType().Name, ttft, 0, 0, false);
        }
    }

    /// <summary>The dur (ms) of metric <paramref name="name"/> in Server-Timing values ("gateway;dur=0.4, engine;dur=23"), else NaN.</summary>
    public static double ServerTiming(IEnumerable<string> values, string name)
    {
        foreach (var value in values)
        {
            foreach (var metric in value.Split(',', StringSplitOptions.TrimEntries))
            {
                var parts = metric.Split(';', StringSplitOptions.TrimEntries);
                if (parts[0] != name)
                {
                    continue;
                }

                foreach (var p in parts.Skip(1))
                {
                    if (p.StartsWith("dur=", StringComparison.Ordinal)
                        && double.TryParse(p.AsSpan(4), System.Globalization.NumberStyles.Float, System.Globalization.CultureInfo.InvariantCulture, out var dur))
                    {
                        return dur;
                    }
                }
            }
        }

        return double.NaN;
    }

    public static double Percentile(List<double> values, double p)
    {
        if (values.Count == 0)
        {
            return double.NaN;
        }

        values.Sort();
        return values[Math.Min(values.Count - 1, (int)Math.Ceiling(p * values.Count) - 1)];
    }
}
