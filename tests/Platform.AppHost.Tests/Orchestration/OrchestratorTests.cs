using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using Platform.AppHost.Hosting;
using Platform.AppHost.Orchestration;
using Platform.AppHost.Tests.Support;
using StackExchange.Redis;

namespace Platform.AppHost.Tests.Orchestration;

/// <summary>The orchestrator run in-process on small topologies of real processes (Redis, Garnet, shell processes).</summary>
[Collection(ProcessCollection.Name)]
public sealed class OrchestratorTests
{
    private static readonly TimeSpan ReadyTimeout = TimeSpan.FromSeconds(120);

    private static int RedisPort(InProcessPlatform platform) => platform.Replica("redis-0").Endpoints[0].Port;

    private static async Task<bool> PingsAsync(int port)
    {
        try
        {
            await using var redis = await ConnectionMultiplexer.ConnectAsync($"127.0.0.1:{port},connectTimeout=2000,abortConnect=true");
            await redis.GetDatabase().PingAsync();
            return true;
        }
        catch (RedisConnectionException)
        {
            return false;
        }
    }

    [Fact]
    public async Task Run_RedisServer_PrintsReadyLineAndRedisAnswersPing()
    {
        await using var platform = await InProcessPlatform.StartAsync(b => b.AddRedis("redis"), ReadyTimeout, "--redis", "redis-server");

        var port = RedisPort(platform);
        Assert.StartsWith("Platform ready", platform.ReadyLine, StringComparison.Ordinal);
        Assert.Contains($"redis=tcp://127.0.0.1:{port}", platform.ReadyLine, StringComparison.Ordinal);
        Assert.Contains("Redis: using redis-server", platform.Output, StringComparison.Ordinal);
        Assert.True(await PingsAsync(port));
    }

    [Fact]
    public async Task Run_Garnet_AnswersPingAndRunsLua()
    {
        // On a fresh machine this includes 'dotnet tool restore' fetching the tool from the package registry.
        await using var platform = await InProcessPlatform.StartAsync(b => b.AddRedis("redis"), TimeSpan.FromSeconds(180), "--redis", "garnet");

        Assert.Contains("Redis: using garnet-server", platform.Output, StringComparison.Ordinal);
        await using var redis = await ConnectionMultiplexer.ConnectAsync($"127.0.0.1:{RedisPort(platform)}");
        var db = redis.GetDatabase();
        await db.PingAsync();
        var result = await db.ScriptEvaluateAsync("return redis.call('INCRBY', KEYS[1], ARGV[1])", [(RedisKey)"platform:test"], [5]);
        Assert.Equal(5, (long)result);

        Assert.Equal(0, await platform.StopAsync());
    }

    [Fact]
    public async Task ControlApi_StopThenStartRedis_ComesBackOnTheSameEndpoint()
    {
        await using var platform = await InProcessPlatform.StartAsync(b => b.AddRedis("redis"), ReadyTimeout);
        using var http = new HttpClient { BaseAddress = new Uri(platform.Orchestrator.Topology.ControlUrl) };
        var port = RedisPort(platform);
        var ct = TestContext.Current.CancellationToken;

        var stopped = await http.PostAsync("/resources/redis-0/stop", null, ct);
        Assert.Equal(HttpStatusCode.OK, stopped.StatusCode);
        Assert.Equal("stopped", (await ReplicaJsonAsync(http, "redis-0", ct)).GetProperty("state").GetString());
        Assert.False(await PingsAsync(port));

        var started = await http.PostAsync("/resources/redis/start", null, ct);
        Assert.Equal(HttpStatusCode.OK, started.StatusCode);
        await Poll.UntilAsync(() => platform.Replica("redis-0").Healthy == true, ReadyTimeout, "redis healthy again", ct);
        Assert.True(await PingsAsync(port));
        Assert.Equal(port, platform.Replica("redis-0").Endpoints[0].Port);
    }

    [Fact]
    public async Task ControlApi_UnknownTargetOrAction_AnswersWithAClearError()
    {
        await using var platform = await InProcessPlatform.StartAsync(b => b.AddExecutable("sleeper", "sleep", "300"), ReadyTimeout);
        using var http = new HttpClient { BaseAddress = new Uri(platform.Orchestrator.Topology.ControlUrl) };
        var ct = TestContext.Current.CancellationToken;

        var unknownTarget = await http.PostAsync("/resources/enginenope-0/restart", null, ct);
        var unknownAction = await http.PostAsync("/resources/sleeper-0/explode", null, ct);
        var missing = await http.GetAsync("/resources/nothing", ct);

        Assert.Equal(HttpStatusCode.NotFound, unknownTarget.StatusCode);
        Assert.Contains("enginenope-0", await unknownTarget.Content.ReadAsStringAsync(ct), StringComparison.Ordinal);
        Assert.Equal(HttpStatusCode.BadRequest, unknownAction.StatusCode);
        Assert.Contains("restart, stop or start", await unknownAction.Content.ReadAsStringAsync(ct), StringComparison.Ordinal);
        Assert.Equal(HttpStatusCode.NotFound, missing.StatusCode);
    }

    [Fact]
    public async Task WaitFor_Dependency_StartsTheDependentOnlyOnceItIsHealthy()
    {
        await using var platform = await InProcessPlatform.StartAsync(
            b =>
            {
                var redis = b.AddRedis("redis");
                b.AddExecutable("worker", "sleep", "300").WithReference(redis).WaitFor(redis);
            },
            ReadyTimeout);

        var output = platform.Output;
        var redisHealthy = output.IndexOf("redis-0 is healthy", StringComparison.Ordinal);
        var workerStarted = output.IndexOf("worker-0 started", StringComparison.Ordinal);
        Assert.True(redisHealthy >= 0 && workerStarted > redisHealthy, output);
    }

    [Fact]
    public async Task Stop_ProcessThatStartedChildren_LeavesNoProcessBehind()
    {
        await using var platform = await InProcessPlatform.StartAsync(
            b => b.AddExecutable("family", "sh", "-c", "sleep 300 & sleep 300 & wait"),
            ReadyTimeout);
        var root = platform.Replica("family-0").Pid!.Value;
        await Poll.UntilAsync(() => ProcessTree.Descendants(root).Count >= 2, ReadyTimeout, "the shell's two children");
        var tree = ProcessTree.Descendants(root).Append(ProcessTree.Identify(root)!.Value).ToList();

        var exitCode = await platform.StopAsync();

        Assert.Equal(0, exitCode);
        Assert.All(tree, p => Assert.False(ProcessTree.IsAlive(p), $"pid {p.Pid} is still alive"));
    }

    private static async Task<JsonElement> ReplicaJsonAsync(HttpClient http, string id, CancellationToken ct)
    {
        var resources = await http.GetFromJsonAsync<JsonElement>($"/resources/{id}", ct);
        return resources[0].GetProperty("replicas")[0];
    }
}
