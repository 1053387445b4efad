using System.Net;
using System.Text;
using Platform.Gateway.Tests.Api;
using Platform.Gateway.Tests.Fixtures.Stack;

namespace Platform.Gateway.Tests.Limits;

public sealed class RateLimitTests
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task OverRequestLimit_429WithRetryAfterAndOpenAiBody()
    {
        var (host, pipeline, _) = await GatewayHost.StartScriptedAsync();
        await using var _h = host;
        using var http = host.CreateHttpClient(GatewayHost.LimitedKey);
        const string Body = $$"""{"model":"{{GatewayHost.Model}}","messages":[{"role":"user","content":"hi"}]}""";

        for (var i = 0; i < 2; i++)
        {
            using var ok = await http.PostAsync("/v1/chat/completions", new StringContent(Body, Encoding.UTF8, "application/json"), Ct);
            Assert.Equal(HttpStatusCode.OK, ok.StatusCode);
        }

        using var limited = await http.PostAsync("/v1/chat/completions", new StringContent(Body, Encoding.UTF8, "application/json"), Ct);

        await ErrorBody.AssertAsync(limited, 429, code: "rate_limit_exceeded");
        Assert.Equal(TimeSpan.FromSeconds(42), limited.Headers.RetryAfter?.Delta);
        Assert.Equal(2, pipeline.Requests.Count);
    }
}
