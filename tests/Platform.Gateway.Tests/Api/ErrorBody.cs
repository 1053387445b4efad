using System.Text.Json;

namespace Platform.Gateway.Tests.Api;

/// <summary>Asserts OpenAI's error body: {"error":{"message","type","param","code"}}.</summary>
internal static class ErrorBody
{
    public static async Task<JsonElement> AssertAsync(HttpResponseMessage response, int status, string? param = null, string? code = null)
    {
        var text = await response.Content.ReadAsStringAsync(TestContext.Current.CancellationToken);
        Assert.True((int)response.StatusCode == status, $"expected {status}, got {(int)response.StatusCode}: {text}");
        Assert.Equal("application/json", response.Content.Headers.ContentType?.MediaType);
        using var doc = JsonDocument.Parse(text);
        var error = doc.RootElement.GetProperty("error");
        Assert.Equal(JsonValueKind.String, error.GetProperty("message").ValueKind);
        Assert.False(string.IsNullOrWhiteSpace(error.GetProperty("message").GetString()));
        Assert.Equal(JsonValueKind.String, error.GetProperty("type").ValueKind);
        Assert.True(error.TryGetProperty("param", out var p));
        Assert.True(error.TryGetProperty("code", out var c));
        if (param is not null)
        {
            Assert.Equal(param, p.GetString());
        }

        if (code is not null)
        {
            Assert.Equal(code, c.GetString());
        }

        return error.Clone();
    }
}
