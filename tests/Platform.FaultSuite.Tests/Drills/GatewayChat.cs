using System.Diagnostics;
using System.Globalization;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;

namespace Platform.FaultSuite.Drills;

/// <summary>How one streamed request ended, as its client saw it.</summary>
internal enum ChatEnd
{
    /// <summary>A finish_reason, usage and [DONE].</summary>
    Completed,

    /// <summary>An HTTP error status before any content (a visible error).</summary>
    Refused,

    /// <summary>An explicit <c>data: {"error": ...}</c> event (a visible error).</summary>
    ErrorEvent,

    /// <summary>The connection ended, or [DONE] without a finish: a request lost without an error. Must never happen.</summary>
    Lost,

    /// <summary>The client itself gave up (its own cancellation).</summary>
    ClientCancelled,
}

/// <summary>One streamed chat request through the gateway: how it ended, where it went, when the first content came.</summary>
internal readonly record struct ChatResult(ChatEnd End, int Status, string? Pool, string? Engine, bool Fallback, double TtftMs, double TotalMs, int CompletionTokens)
{
    public bool Ok => End == ChatEnd.Completed;
}

/// <summary>The drills' client: OpenAI streaming chat over SSE, every outcome accounted for.</summary>
internal static class GatewayChat
{
    public const string Model = "llama-3.1-8b-instruct";

    /// <summary>A prompt the classifier calls code.</summary>
    public const string CodePrompt = "Fix the bug in this function:\n```python\ndef add(a, b):\n    return a - b\n```\nand add a unit test with pytest.";

    /// <summary>A prompt the classifier calls general.</summary>
    public const string GeneralPrompt = "Write a short poem about the sea at night, in the style of a lullaby.";

    public static HttpClient CreateClient(int maxConnections = 4096) => new(new SocketsHttpHandler
    {
        MaxConnectionsPerServer = maxConnections,
        PooledConnectionLifetime = Timeout.InfiniteTimeSpan,
        ConnectTimeout = TimeSpan.FromSeconds(30),

        // A client that gives up on a stream goes away: its connection closes at once. By default a disposed, half-read
        // response is drained in the background (up to 1 MiB for up to 2 s) to keep the connection, so a client cancelled
        // between two reads stayed connected, and its stream kept running at the engine, for 2 s.
        MaxResponseDrainSize = 0,
    })
    {
        Timeout = Timeout.InfiniteTimeSpan,
    };

    public static string Body(string prompt, int maxTokens) => JsonSerializer.Serialize(new
    {
        model = Model,
        messages = new[] { new { role = "user", content = prompt } },
        max_tokens = maxTokens,
        ignore_eos = true,
        stream = true,
        stream_options = new { include_usage = true },
    });

    /// <summary>
    /// Sends one streamed request and reads it to the end. <paramref name="onFirstContent"/> runs when the first content
    /// arrives (the storm uses it to know a stream is mid-flight); cancelling <paramref name="ct"/> ends the request as the
    /// client going away does (the connection is closed) and yields <see cref="ChatEnd.ClientCancelled"/>.
    /// </summary>
    public static async Task<ChatResult> StreamAsync(
        HttpClient http, Uri gateway, string apiKey, string prompt, int maxTokens, CancellationToken ct, Action? onFirstContent = null)
    {
        var started = Stopwatch.GetTimestamp();
        double ttft = double.NaN;
        int status = 0, completion = 0;
        string? pool = null, engine = null;
        var fallback = false;
        var finished = false;
        ChatResult Result(ChatEnd end) => new(end, status, pool, engine, fallback, ttft, Stopwatch.GetElapsedTime(started).TotalMilliseconds, completion);
        try
        {
            using var request = new HttpRequestMessage(HttpMethod.Post, new Uri(gateway, "v1/chat/completions"))
            {
                Content = new StringContent(Body(prompt, maxTokens), Encoding.UTF8, "application/json"),
            };
            request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", apiKey);
            using var response = await http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, ct);
            status = (int)response.StatusCode;
            pool = Header(response, "x-platform-pool");
            engine = Header(response, "x-platform-engine");
            fallback = Header(response, "x-platform-fallback") == "true";
            if (!response.IsSuccessStatusCode)
            {
                return Result(ChatEnd.Refused);
            }

            await using var stream = await response.Content.ReadAsStreamAsync(ct);
            using var reader = new StreamReader(stream, Encoding.UTF8);
            while (await reader.ReadLineAsync(ct) is { } line)
            {
                if (!line.StartsWith("data: ", StringComparison.Ordinal))
                {
                    continue;
                }

                if (line.AsSpan(6).SequenceEqual("[DONE]"))
                {
                    return Result(finished && completion > 0 ? ChatEnd.Completed : ChatEnd.Lost);
                }

                using var json = JsonDocument.Parse(line.AsMemory(6));
                var root = json.RootElement;
                if (root.TryGetProperty("error", out _))
                {
                    return Result(ChatEnd.ErrorEvent);
                }

                if (root.TryGetProperty("choices", out var choices) && choices.GetArrayLength() > 0)
                {
                    var choice = choices[0];
                    if (double.IsNaN(ttft) && choice.TryGetProperty("delta", out var delta)
                        && delta.TryGetProperty("content", out var content) && content.GetString() is { Length: > 0 })
                    {
                        ttft = Stopwatch.GetElapsedTime(started).TotalMilliseconds;
                        onFirstContent?.Invoke();
                    }

                    if (choice.TryGetProperty("finish_reason", out var reason) && reason.ValueKind == JsonValueKind.String)
                    {
                        finished = true;
                    }
                }

                if (root.TryGetProperty("usage", out var usage) && usage.ValueKind == JsonValueKind.Object)
                {
                    completion = usage.GetProperty("completion_tokens").GetInt32();
                }
            }

            return Result(ChatEnd.Lost);
        }
        catch (OperationCanceledException) when (ct.IsCancellationRequested)
        {
            return Result(ChatEnd.ClientCancelled);
        }
        catch (Exception e) when (e is HttpRequestException or IOException or JsonException)
        {
            return Result(status == 0 ? ChatEnd.Refused : ChatEnd.Lost);
        }
    }

    public static double Percentile(IEnumerable<double> values, double p)
    {
        var sorted = values.Where(v => !double.IsNaN(v)).Order().ToList();
        return sorted.Count == 0 ? double.NaN : sorted[Math.Min(sorted.Count - 1, Math.Max(0, (int)Math.Ceiling(p * sorted.Count) - 1))];
    }

    public static string Ms(double value) => value.ToString("0.0", CultureInfo.InvariantCulture) + " ms";

    private static string? Header(HttpResponseMessage response, string name) =>
        response.Headers.TryGetValues(name, out var values) ? values.FirstOrDefault() : null;
}
