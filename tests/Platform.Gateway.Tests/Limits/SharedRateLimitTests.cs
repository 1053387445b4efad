using System.Net;
using System.Text;
using Platform.Gateway.Tests.Api;
using Platform.Gateway.Tests.Fixtures.Engines;
using Platform.Gateway.Tests.Fixtures.Stack;

namespace Platform.Gateway.Tests.Limits;

/// <summary>Two gateway replicas on one real Redis: a key's limit is shared, whichever replica a request reaches.</summary>
public sealed class SharedRateLimitTests
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task TwoGateways_OneRedis_LimitSharedAcrossReplicas()
    {
        await using var redis = await RedisServer.StartAsync();
        await using var fallback = await EngineSim.StartAsync("--served-model-name", GatewayHost.FallbackModel, "--max-model-len", "4096");
        await using var general = await EngineSim.StartAsync("--served-model-name", GatewayHost.Model, "--max-model-len", "32768");
        await using var a = await PlatformStack.StartGatewayAsync(redis, fallback, [general]);
        await using var b = await PlatformStack.StartGatewayAsync(redis, fallback, [general]);
        using var httpA = a.CreateHttpClient(GatewayHost.LimitedKey);
        using var httpB = b.CreateHttpClient(GatewayHost.LimitedKey);
        const string Body = $$"""{"model":"{{GatewayHost.FallbackModel}}","prompt":"hello","max_tokens":2}""";

        // The limited key allows 2 requests per minute in total: one through each replica, then neither admits a third.
        using (var first = await httpA.PostAsync("/v1/completions", new StringContent(Body, Encoding.UTF8, "application/json"), Ct))
        {
            Assert.Equal(HttpStatusCode.OK, first.StatusCode);
        }

        using (var second = await httpB.PostAsync("/v1/completions", new StringContent(Body, Encoding.UTF8, "application/json"), Ct))
        {
            Assert.Equal(HttpStatusCode.OK, second.StatusCode);
        }

        foreach (var http in (HttpClient[])[httpA, httpB])
        {
            using var limited = await http.PostAsync("/v1/completions", new StringContent(Body, Encoding.UTF8, "application/json"), Ct);
            await ErrorBody.AssertAsync(limited, 429, code: "rate_limit_exceeded");
            Assert.NotNull(limited.Headers.RetryAfter?.Delta);
            Assert.InRange(limited.Headers.RetryAfter!.Delta!.Value, TimeSpan.FromSeconds(1), TimeSpan.FromSeconds(120));
        }

        // Another tenant is not affected.
        using var other = a.CreateHttpClient();
        using var ok = await other.PostAsync("/v1/completions", new StringContent(Body, Encoding.UTF8, "application/json"), Ct);
        Assert.Equal(HttpStatusCode.OK, ok.StatusCode);
    }
}
