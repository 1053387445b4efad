using System.Diagnostics;
using System.Net.Http.Headers;
using System.Text.Json;
using Platform.FaultSuite.Drills;
using Platform.FaultSuite.Tests.Support;

namespace Platform.FaultSuite.Tests.Faults;

/// <summary>
/// Fault 4, CI size, against the whole topology: Redis stops under traffic (for as long as 120 requests take, a few
/// seconds, instead of the 30 s) and comes back empty. Every request succeeds on the replicas' local state,
/// and the gateway is back on Redis soon after. The bench's <c>gateway-redis-outage</c> is the 30 s version with two
/// gateways and a breaker opened during the outage.
/// </summary>
[Collection(TopologyCollection.Name)]
public sealed class RedisDownTests(TopologyFixture fixture)
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(60);

    [Fact]
    public async Task RedisStopped_UnderTraffic_EveryRequestSucceedsAndTheGatewayReconnects()
    {
        var ct = TestContext.Current.CancellationToken;
        var output = TestContext.Current.TestOutputHelper!;
        var platform = fixture.Platform;
        await fixture.WaitServingAsync(ct);
        using var admin = new HttpClient { BaseAddress = platform.Gateway };
        admin.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", PlatformProcess.AdminKey);

        var traffic = new Traffic(platform, workers: 8, maxTokens: 16, phase: "before");
        TimeSpan noticed, outage, reconnected;
        try
        {
            await traffic.WaitForAsync(40, Timeout, ct);
            Assert.True(await RedisAvailableAsync());

            traffic.Phase = "redis down";
            await platform.ControlAsync("redis", "stop", ct);
            var down = Stopwatch.StartNew();
            noticed = await Wait.UntilAsync(async () => !await RedisAvailableAsync(), Timeout, "the gateway noticing Redis is gone", ct);
            await traffic.WaitForAsync(120, Timeout, ct);
            outage = down.Elapsed;

            traffic.Phase = "redis back";
            await platform.ControlAsync("redis", "start", ct);
            reconnected = await Wait.UntilAsync(RedisAvailableAsync, Timeout, "the gateway back on Redis", ct);
            await platform.WaitAllHealthyAsync(Timeout, ct);
            await traffic.WaitForAsync(40, Timeout, ct);
        }
        finally
        {
            await traffic.DisposeAsync();
        }

        output.WriteLine($"Redis stopped for {outage.TotalSeconds:0.0} s: the gateway saw it gone after {noticed.TotalSeconds:0.00} s; "
            + $"Redis started again (empty): the gateway back on it {reconnected.TotalSeconds:0.00} s later");
        foreach (var phase in new[] { "before", "redis down", "redis back" })
        {
            output.WriteLine(traffic.Describe(phase));
        }

        Assert.True(traffic.Results.All(r => r.Result.Ok), "requests failed: " + Traffic.Failures(traffic.Results));
        Assert.True(traffic.In("redis down").Count() >= 120);

        async Task<bool> RedisAvailableAsync()
        {
            using var fleet = JsonDocument.Parse(await admin.GetStringAsync("/admin/fleet", ct));
            return fleet.RootElement.GetProperty("redisAvailable").GetBoolean();
        }
    }
}
