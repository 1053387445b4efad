using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Options;
using Platform.Fleet.Catalog;
using Platform.Fleet.Limits;
using Platform.Fleet.State;
using Platform.Fleet.Tests.Fixtures;
using StackExchange.Redis;

namespace Platform.Fleet.Tests.Hosting;

/// <summary>The three registrations together in a host, as the gateway wires them.</summary>
public sealed class FleetHostingTests
{
    [Fact]
    public async Task StartAsync_CatalogStateAndLimiter_ConnectToRedisAndKnowTheCatalogEngines()
    {
        await using var redis = await RedisServer.StartAsync();
        using var host = Build(new()
        {
            ["ConnectionStrings:redis"] = redis.ConnectionString,
            ["Fleet:Models:0:Name"] = "m",
            ["Fleet:Pools:0:Name"] = "pool",
            ["Fleet:Pools:0:Model"] = "m",
            ["Fleet:Pools:0:MaxModelLen"] = "4096",
            ["services:pool:http:0"] = "http://127.0.0.1:1",
            ["services:pool:http:1"] = "http://127.0.0.1:2",
        });

        await host.StartAsync(TestContext.Current.CancellationToken);

        var state = host.Services.GetRequiredService<IFleetState>();
        Assert.True(state.RedisAvailable);
        Assert.Equal(2, host.Services.GetRequiredService<IFleetCatalog>().Engines.Count);
        await using (var client = await ConnectionMultiplexer.ConnectAsync(redis.ConnectionString))
        {
            var engines = await client.GetDatabase().SetMembersAsync("platform:fleet:engines");
            Assert.Equal(["pool-0", "pool-1"], engines.Select(e => (string)e!).Order());
        }

        var limiter = host.Services.GetRequiredService<IRateLimiter>();
        Assert.True((await limiter.TryAcquireAsync("k", new RateLimits(1, 0), default)).Allowed);
        Assert.False((await limiter.TryAcquireAsync("k", new RateLimits(1, 0), default)).Allowed);
        await host.StopAsync(TestContext.Current.CancellationToken);
    }

    [Fact]
    public async Task StartAsync_BadStateOptions_FailsNamingEverySetting()
    {
        using var host = Build(new()
        {
            ["Fleet:State:CoolDown"] = "00:00:05",
            ["Fleet:State:MaxCoolDown"] = "00:00:01",
            ["Fleet:State:RedisTimeout"] = "00:00:10",
            ["Fleet:State:FailureRatio"] = "1.5",
            ["Fleet:RateLimits:KeyPrefix"] = string.Empty,
        }, catalog: false);

        var error = await Assert.ThrowsAnyAsync<OptionsValidationException>(() => host.StartAsync(TestContext.Current.CancellationToken));
        var message = error.Message + string.Join("\n", error.Failures);

        Assert.Contains("Fleet:State:MaxCoolDown", message, StringComparison.Ordinal);
        Assert.Contains("Fleet:State:RedisTimeout", message, StringComparison.Ordinal);
        Assert.Contains("FailureRatio", message, StringComparison.Ordinal);
    }

    private static IHost Build(Dictionary<string, string?> settings, bool catalog = true)
    {
        var builder = Host.CreateApplicationBuilder(new HostApplicationBuilderSettings { DisableDefaults = true });
        builder.Configuration.AddInMemoryCollection(settings);
        if (catalog)
        {
            builder.AddFleetCatalog();
        }

        builder.AddFleetState();
        builder.AddFleetRateLimiter();
        return builder.Build();
    }
}
