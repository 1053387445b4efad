using System.Net;
using System.Text;
using System.Text.Json;
using Microsoft.Extensions.DependencyInjection;
using Platform.Fleet.State;
using Platform.Gateway.Tests.Fixtures.Engines;
using Platform.Gateway.Tests.Fixtures.Stack;

namespace Platform.Gateway.Tests.EndToEnd;

/// <summary>Two gateway replicas on one redis-server in front of two EngineSim processes.</summary>
public sealed class BreakerPropagationTests
{
    private const string AdminKey = "sk-admin-0123456789";
    private static readonly TimeSpan Generous = TimeSpan.FromSeconds(5);

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task BreakerOpenedByReplicaA_ReplicaBStopsRoutingToTheEngine()
    {
        await using var redis = await RedisServer.StartAsync();
        var starting = Enumerable.Range(0, 2).Select(i => EngineSim.StartAsync("--served-model-name", GatewayHost.Model, "--sim-engine-label", $"enginegeneral-{i}")).ToArray();
        var engines = await Task.WhenAll(starting);
        try
        {
            await using var a = await GatewayHost.StartAsync(Configuration(redis, engines));
            await using var b = await GatewayHost.StartAsync(Configuration(redis, engines));
            using var httpA = a.CreateHttpClient();
            using var httpB = b.CreateHttpClient();
            const string Broken = "enginegeneral-0";

            // Engine 0 fails every request before its first token; only replica A sends it traffic. A retries each
            // failure on engine 1 (the client never notices) and counts it against engine 0's breaker.
            await engines[0].SetFaultsAsync(new { errorRate = 1.0, errorStatus = 500 });
            await Poll.UntilAsync(
                async () =>
                {
                    using var response = await ChatAsync(httpA);
                    Assert.Equal(HttpStatusCode.OK, response.StatusCode);
                    return a.Services.GetRequiredService<IFleetState>().GetBreaker(Broken).State == BreakerState.Open;
                },
                TimeSpan.FromSeconds(30),
                "replica A to open engine 0's breaker");
            var opened = a.Services.GetRequiredService<IFleetState>().GetBreaker(Broken);

            // B never sent engine 0 a request, yet reports the breaker A opened: same version, through Redis.
            await Poll.UntilAsync(
                async () => await BreakerAsync(b, Broken) is { State: "open" } seen && seen.Version >= opened.Version,
                Generous,
                "replica B to report engine 0's breaker open");
            Assert.Equal(BreakerState.Open, b.Services.GetRequiredService<IFleetState>().GetBreaker(Broken).State);

            // Engine 0 is healthy again, so a request B sent there would be served there; round-robin would send every
            // other one. The breaker is open for a minute, so B must keep them all on engine 1.
            await engines[0].SetFaultsAsync(new { });
            var promptTokensBefore = await engines[0].SumAsync("vllm:prompt_tokens_total");
            for (var i = 0; i < 6; i++)
            {
                using var response = await ChatAsync(httpB);
                Assert.Equal(HttpStatusCode.OK, response.StatusCode);
                Assert.Equal("enginegeneral-1", response.Headers.GetValues("x-platform-engine").Single());
            }

            Assert.Equal(promptTokensBefore, await engines[0].SumAsync("vllm:prompt_tokens_total"));
        }
        finally
        {
            foreach (var engine in engines)
            {
                await engine.DisposeAsync();
            }
        }
    }

    /// <summary>The AppHost's shape: one model, one pool of two engines, Redis; deterministic routing; a long cool-down.</summary>
    private static Dictionary<string, string?> Configuration(RedisServer redis, EngineSim[] engines)
    {
        var configuration = GatewayHost.DefaultConfiguration();
        foreach (var key in configuration.Keys.Where(k => k.StartsWith("Fleet:", StringComparison.Ordinal)).ToList())
        {
            configuration.Remove(key);
        }

        configuration["ConnectionStrings:redis"] = redis.ConnectionString;
        configuration["Fleet:Models:0:Name"] = GatewayHost.Model;
        configuration["Fleet:Pools:0:Name"] = "enginegeneral";
        configuration["Fleet:Pools:0:Model"] = GatewayHost.Model;
        configuration["Fleet:Pools:0:TaskAffinity"] = "general";
        configuration["Fleet:Pools:0:MaxModelLen"] = "32768";
        for (var i = 0; i < engines.Length; i++)
        {
            configuration[$"services:enginegeneral:http:{i}"] = engines[i].BaseUri.ToString().TrimEnd('/');
        }

        configuration["Fleet:State:CoolDown"] = "00:01:00";
        configuration["Fleet:State:MaxCoolDown"] = "00:02:00";
        configuration["Gateway:Routing:Policy"] = "round-robin";
        configuration["Gateway:Routing:PrefixAffinity"] = "false";
        configuration["Gateway:Admin:Key"] = AdminKey;
        return configuration;
    }

    private static Task<HttpResponseMessage> ChatAsync(HttpClient http) => http.PostAsync(
        "/v1/chat/completions",
        new StringContent($$"""{"model":"{{GatewayHost.Model}}","messages":[{"role":"user","content":"hello"}],"max_tokens":2}""", Encoding.UTF8, "application/json"),
        Ct);

    /// <summary>The breaker of one engine as the replica's admin endpoint reports it.</summary>
    private static async Task<(string State, long Version)> BreakerAsync(GatewayHost gateway, string engineId)
    {
        using var http = gateway.CreateHttpClient(AdminKey);
        var body = JsonDocument.Parse(await http.GetStringAsync("/admin/fleet", Ct)).RootElement;
        var breaker = body.GetProperty("engines").EnumerateArray().Single(e => e.GetProperty("id").GetString() == engineId).GetProperty("breaker");
        return (breaker.GetProperty("state").GetString()!, breaker.GetProperty("version").GetInt64());
    }
}
