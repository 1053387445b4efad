using System.Diagnostics;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;

namespace Platform.Bench;

/// <summary>How a tracked stream ended, as the client saw it.</summary>
internal enum TrackedOutcome
{
    /// <summary>finish_reason, usage and [DONE].</summary>
    Completed,

    /// <summary>An HTTP error status before any content.</summary>
    Refused,

    /// <summary>An explicit <c>data: {"error": ...}</c> event after content.</summary>
    ErrorEvent,

    /// <summary>Anything else: the connection ended, or [DONE] without a finish or usage. Must never happen.</summary>
    Truncated,
}

/// <summary>Everything the client saw of one streamed chat request, for per-request accounting.</summary>
internal sealed record TrackedStream(
    TrackedOutcome Outcome,
    int Status,
    string? Id,
    string? Engine,
    bool Fallback,
    string? RetryAfter,
    string? ErrorCode,
    long StartedAt,
    long FirstContentAt,
    long EndedAt,
    int RoleChunks,
    int ContentChunks,
    int FinishChunks,
    string? FinishReason,
    int Ids,
    int TextLength,
    int PromptTokens,
    int CompletionTokens,
    int TotalTokens)
{
    /// <summary>A completed stream that holds together: one id, one role chunk, one finish, usage that adds up.</summary>
    public bool Plausible(int maxTokens, int promptTokens) =>
        Outcome == TrackedOutcome.Completed && Ids == 1 && RoleChunks == 1 && FinishChunks == 1 && FinishReason == "length"
        && CompletionTokens == maxTokens && PromptTokens == promptTokens && TotalTokens == PromptTokens + CompletionTokens
        && TextLength > 0 && ContentChunks <= CompletionTokens;
}

/// <summary>
/// A streaming chat request (SSE, usage asked) that records what arrived: the response id, the
/// <c>x-platform-engine</c> header (the engine of the first content), each chunk kind, usage and how it ended.
/// </summary>
internal static class TrackedChat
{
    public static async Task<TrackedStream> RunAsync(HttpClient http, Uri gateway, string apiKey, string model, string prompt, int maxTokens, CancellationToken ct)
    {
        var body = StreamClient.ChatBody(model, prompt, maxTokens);
        var started = Stopwatch.GetTimestamp();
        long first = 0;
        int status = 0, roles = 0, contents = 0, finishes = 0, textLength = 0, prompt_ = 0, completion = 0, total = 0;
        string? engine = null, finishReason = null, errorCode = null;
        var fallback = false;
        var ids = new HashSet<string>(StringComparer.Ordinal);
        string? firstId = null;
        TrackedStream Result(TrackedOutcome outcome, string? retryAfter = null) => new(
            outcome, status, firstId, engine, fallback, retryAfter, errorCode, started, first, Stopwatch.GetTimestamp(),
            roles, contents, finishes, finishReason, ids.Count, textLength, prompt_, completion, total);

        try
        {
            using var request = new HttpRequestMessage(HttpMethod.Post, new Uri(gateway, "v1/chat/completions"))
            {
                Content = new StringContent(body, Encoding.UTF8, "application/json"),
            };
            request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", apiKey);
            using var response = await http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, ct);
            status = (int)response.StatusCode;
            engine = response.Headers.TryGetValues("x-platform-engine", out var e) ? e.FirstOrDefault() : null;
            fallback = response.Headers.TryGetValues("x-platform-fallback", out var f) && f.Contains("true");
            if (!response.IsSuccessStatusCode)
            {
                var text = await response.Content.ReadAsStringAsync(ct);
                try
                {
                    using var error = JsonDocument.Parse(text);
                    errorCode = error.RootElement.GetProperty("error").GetProperty("code").GetString();
                }
                catch (Exception ex) when (ex is JsonException or KeyNotFoundException or InvalidOperationException)
                {
                    errorCode = "not an OpenAI error body";
                }

                return Result(TrackedOutcome.Refused, response.Headers.RetryAfter?.ToString());
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
                    return Result(finishes > 0 && completion > 0 ? TrackedOutcome.Completed : TrackedOutcome.Truncated);
                }

                using var json = JsonDocument.Parse(line.AsMemory(6));
                var root = json.RootElement;
                if (root.TryGetProperty("error", out var err))
                {
                    errorCode = err.TryGetProperty("code", out var c) ? c.GetString() : null;
                    return Result(TrackedOutcome.ErrorEvent);
                }

                if (root.TryGetProperty("id", out var id) && id.GetString() is { } idText)
                {
                    firstId ??= idText;
                    ids.Add(idText);
                }

                if (root.TryGetProperty("choices", out var choices) && choices.GetArrayLength() > 0)
                {
                    var choice = choices[0];
                    if (choice.TryGetProperty("delta", out var delta))
                    {
                        if (delta.TryGetProperty("role", out _))
                        {
                            roles++;
                        }
                        else if (delta.TryGetProperty("content", out var content) && content.GetString() is { Length: > 0 } piece)
                        {
                            first = first == 0 ? Stopwatch.GetTimestamp() : first;
                            contents++;
                            textLength += piece.Length;
                        }
                    }

                    if (choice.TryGetProperty("finish_reason", out var reason) && reason.ValueKind == JsonValueKind.String)
                    {
                        finishes++;
                        finishReason = reason.GetString();
                    }
                }

                if (root.TryGetProperty("usage", out var usage) && usage.ValueKind == JsonValueKind.Object)
                {
                    prompt_ = usage.GetProperty("prompt_tokens").GetInt32();
                    completion = usage.GetProperty("completion_tokens").GetInt32();
                    total = usage.GetProperty("total_tokens").GetInt32();
                }
            }

            return Result(TrackedOutcome.Truncated);
        }
        catch (Exception e) when (e is HttpRequestException or IOException or JsonException)
        {
            return Result(status == 0 ? TrackedOutcome.Refused : TrackedOutcome.Truncated);
        }
    }
}
