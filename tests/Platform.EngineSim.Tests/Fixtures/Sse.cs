using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;

namespace Platform.EngineSim.Tests.Fixtures;

/// <summary>Raw HTTP helpers for asserting exact bodies and SSE framing.</summary>
internal static class Sse
{
    /// <summary>POSTs JSON and returns the response (headers read; body not yet).</summary>
    public static Task<HttpResponseMessage> PostAsync(HttpClient http, string path, string json, string? apiKey = null)
    {
        var request = new HttpRequestMessage(HttpMethod.Post, path) { Content = new StringContent(json, Encoding.UTF8, "application/json") };
        if (apiKey is not null)
        {
            request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", apiKey);
        }

        return http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, TestContext.Current.CancellationToken);
    }

    public static async Task<(int Status, JsonElement Body)> PostJsonAsync(HttpClient http, string path, string json, string? apiKey = null)
    {
        using var response = await PostAsync(http, path, json, apiKey);
        var text = await response.Content.ReadAsStringAsync(TestContext.Current.CancellationToken);
        return ((int)response.StatusCode, JsonDocument.Parse(text).RootElement.Clone());
    }

    /// <summary>
    /// Reads a whole SSE body and checks its framing: every event is exactly "data: PAYLOAD\n\n". Returns the
    /// payloads in order ("[DONE]" included).
    /// </summary>
    public static async Task<List<string>> ReadEventsAsync(HttpResponseMessage response)
    {
        Assert.Equal("text/event-stream", response.Content.Headers.ContentType?.MediaType);
        var body = await response.Content.ReadAsStringAsync(TestContext.Current.CancellationToken);
        Assert.EndsWith("\n\n", body, StringComparison.Ordinal);
        var events = body[..^2].Split("\n\n");
        foreach (var e in events)
        {
            Assert.StartsWith("data: ", e, StringComparison.Ordinal);
            Assert.DoesNotContain('\n', e);
        }

        return [.. events.Select(e => e["data: ".Length..])];
    }

    public static JsonElement Json(string payload) => JsonDocument.Parse(payload).RootElement.Clone();

    public static string[] Keys(JsonElement element) => [.. element.EnumerateObject().Select(p => p.Name)];
}
