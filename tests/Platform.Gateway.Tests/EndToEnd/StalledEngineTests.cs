using System.Diagnostics;
using System.Net;
using System.Text;
using Microsoft.Extensions.DependencyInjection;
using Platform.Gateway.Routing;
using Platform.Gateway.Tests.Fixtures.Stack;

namespace Platform.Gateway.Tests.EndToEnd;

/// <summary>
/// An engine that hangs (EngineSim's <c>hang</c> fault: its /health still answers, it sends no token) is passed over
/// within about <see cref="RoutingOptions.StallAfter"/> of its silence, instead of taking new requests until they time
/// out: redis-server, three EngineSim processes and the gateway on real sockets (<see cref="PlatformStack"/>).
/// </summary>
public sealed class StalledEngineTests
{
    private const string Hung = "enginegeneral-0";
    private const string Healthy = "enginegeneral-1";

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task EngineHangs_EjectedOnItsStall_NewRequestsGoElsewhere_StuckOnesFinishWhenItResumes()
    {
        var output = TestContext.Current.TestOutputHelper!;

        // Round-robin without prefix affinity sends every other request to each engine whatever it costs, so the hung
        // engine gets its share until it is set aside. At idle the two engines' TTFTs are a few milliseconds apart
        // (2-3x at times): a high outlier factor keeps that noise from ejecting either, while a 1 s stall is ~100x.
        await using var stack = await PlatformStack.StartAsync(configuration =>
        {
            configuration["Gateway:Routing:Policy"] = "round-robin";
            configuration["Gateway:Routing:PrefixAffinity"] = "false";
            configuration["Gateway:Routing:OutlierLatencyFactor"] = "20";
        });
        var gateway = stack.Gateway;
        var hung = stack.General[0];
        using var http = gateway.CreateHttpClient();
        var latency = gateway.Services.GetRequiredService<EngineLatencyTracker>();
        var inFlight = gateway.Services.GetRequiredService<IInFlightTracker>();

        // Enough samples for the pool's latency references (10 per engine by default).
        for (var i = 0; i < 30; i++)
        {
            using var warm = await ChatAsync(http, i, stream: false);
            Assert.Equal(HttpStatusCode.OK, warm.StatusCode);
        }

        await hung.SetFaultsAsync(new { hang = true });
        var hungAt = Stopwatch.StartNew();

        // Requests keep arriving, one every 50 ms, without waiting for each other: those routed to the hung engine
        // wait there. Each is routed, so the router re-prices the engines every time.
        var pending = new List<Task<(HttpStatusCode Status, string Engine, string Body)>>();
        try
        {
            await Poll.UntilAsync(
                async () =>
                {
                    pending.Add(SendAsync(http, 1000 + pending.Count));
                    await Task.Delay(50, Ct);
                    return latency.IsOutlier(Hung);
                },
                TimeSpan.FromSeconds(20),
                $"the gateway to eject {Hung}, silent with requests waiting");
            var ejectedAfter = hungAt.Elapsed;
            var stuck = inFlight.Count(Hung);
            Assert.True(latency.Estimate(Hung).StallSeconds >= 1.0, $"ejected without a stall: {latency.Estimate(Hung)} against {latency.Estimate(Healthy)}");
            output.WriteLine($"{Hung} ejected {ejectedAfter.TotalMilliseconds:F0} ms after it hung (StallAfter 1 s), {pending.Count} requests sent meanwhile, {stuck} waiting on it");
            Assert.InRange(stuck, 1, pending.Count);

            // From now on nothing new reaches it (a probe needs 200 requests routed past it and 5 s): each request is
            // served at once by the other engine.
            for (var i = 0; i < 30; i++)
            {
                var (status, engine, body) = await SendAsync(http, 2000 + i);
                Assert.True(status == HttpStatusCode.OK, $"{(int)status}: {body}");
                Assert.Equal(Healthy, engine);
            }

            Assert.Equal(stuck, inFlight.Count(Hung));
        }
        finally
        {
            await hung.SetFaultsAsync(new { });
        }

        // It resumes: the requests that waited on it get their tokens; none was lost.
        var results = await Task.WhenAll(pending);
        Assert.All(results, r => Assert.True(
            r.Status == HttpStatusCode.OK && r.Body.Contains("data: [DONE]", StringComparison.Ordinal) && !r.Body.Contains("\"error\"", StringComparison.Ordinal),
            $"{(int)r.Status}: {r.Body}"));
        Assert.Contains(results, r => r.Engine == Hung);
        Assert.Equal(0, latency.Estimate(Hung).StallSeconds);
    }

    private static async Task<(HttpStatusCode Status, string Engine, string Body)> SendAsync(HttpClient http, int i)
    {
        using var response = await ChatAsync(http, i, stream: true);
        var body = await response.Content.ReadAsStringAsync(Ct);
        var engine = response.Headers.TryGetValues("x-platform-engine", out var values) ? values.Single() : string.Empty;
        return (response.StatusCode, engine, body);
    }

    /// <summary>A different prompt each time, 4 tokens.</summary>
    private static Task<HttpResponseMessage> ChatAsync(HttpClient http, int i, bool stream) => http.PostAsync(
        "/v1/chat/completions",
        new StringContent(
            $$"""{"model":"{{GatewayHost.Model}}","messages":[{"role":"user","content":"Question {{i}}: what is the tide?"}],"max_tokens":4,"stream":{{(stream ? "true" : "false")}}}""",
            Encoding.UTF8,
            "application/json"),
        Ct);
}
