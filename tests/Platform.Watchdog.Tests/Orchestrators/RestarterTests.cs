using System.Collections.Concurrent;
using System.Text.Json;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;
using Platform.Fleet.Catalog;
using Platform.Watchdog.Orchestrators;
using Platform.Watchdog.Tests.Fixtures;

namespace Platform.Watchdog.Tests.Orchestrators;

public sealed class RestarterTests
{
    private static readonly EngineInfo Engine = new("enginegeneral-1", "enginegeneral", "llama-3.1-8b-instruct", new Uri("http://127.0.0.1:18102/"));

    private sealed record Call(string Method, string Path, string Body);

    /// <summary>
    /// A fake Kubernetes API server: records every call; DELETE answers the pod (uid "old"); GET answers it with the old
    /// uid <paramref name="oldReads"/> times (terminating), then a new one (recreated by its StatefulSet).
    /// </summary>
    private static Task<TestServer> FakeApiServerAsync(ConcurrentQueue<Call> calls, int deleteStatus = 200, int oldReads = 2)
    {
        var reads = 0;
        return TestServer.StartAsync(_ => { }, app =>
        {
            app.Map("/{**path}", async (HttpContext context) =>
            {
                using var reader = new StreamReader(context.Request.Body);
                var body = await reader.ReadToEndAsync();
                calls.Enqueue(new Call(context.Request.Method, context.Request.Path.Value!, body));
                context.Response.ContentType = "application/json";
                if (context.Request.Method == "DELETE" && deleteStatus != 200)
                {
                    context.Response.StatusCode = deleteStatus;
                    await context.Response.WriteAsync($$"""{"kind":"Status","apiVersion":"v1","status":"Failure","code":{{deleteStatus}}}""");
                    return;
                }

                var uid = context.Request.Method == "GET" && Interlocked.Increment(ref reads) > oldReads ? "new" : "old";
                await context.Response.WriteAsync($$$"""{"kind":"Pod","apiVersion":"v1","metadata":{"name":"enginegeneral-1","namespace":"inference","uid":"{{{uid}}}"}}""");
            });
        });
    }

    private static KubernetesRestarter Kubernetes(Uri apiServer) => new(Options.Create(new OrchestratorOptions
    {
        Kind = "kubernetes",
        Kubernetes = new KubernetesRestarterOptions { ApiServer = apiServer.ToString(), Namespace = "inference", GracePeriodSeconds = 30 },
    }))
    { PollInterval = TimeSpan.FromMilliseconds(10) };

    [Fact]
    public async Task Kubernetes_Restart_DeletesThePodThenWaitsUntilItIsReplaced()
    {
        var calls = new ConcurrentQueue<Call>();
        await using var server = await FakeApiServerAsync(calls);
        using var restarter = Kubernetes(server.BaseUri);

        await restarter.RestartAsync(Engine, TestContext.Current.CancellationToken);

        var recorded = calls.ToList();
        Assert.Equal("DELETE", recorded[0].Method);
        Assert.Equal("/api/v1/namespaces/inference/pods/enginegeneral-1", recorded[0].Path);
        using var options = JsonDocument.Parse(recorded[0].Body);
        Assert.Equal(30, options.RootElement.GetProperty("gracePeriodSeconds").GetInt32());
        Assert.Equal("Background", options.RootElement.GetProperty("propagationPolicy").GetString());
        Assert.Equal(["GET", "GET", "GET"], recorded.Skip(1).Select(c => c.Method));
        Assert.All(recorded.Skip(1), c => Assert.Equal("/api/v1/namespaces/inference/pods/enginegeneral-1", c.Path));
    }

    [Theory]
    [InlineData(403, "not allowed to delete pod inference/enginegeneral-1: check the watchdog's RBAC")]
    [InlineData(404, "pod inference/enginegeneral-1 not found")]
    [InlineData(500, "deleting pod inference/enginegeneral-1 failed: 500")]
    public async Task Kubernetes_ApiServerRefuses_FailsWithTheReason(int status, string message)
    {
        var calls = new ConcurrentQueue<Call>();
        await using var server = await FakeApiServerAsync(calls, deleteStatus: status);
        using var restarter = Kubernetes(server.BaseUri);

        var ex = await Assert.ThrowsAsync<EngineRestartException>(() => restarter.RestartAsync(Engine, TestContext.Current.CancellationToken));

        Assert.StartsWith(message, ex.Message, StringComparison.Ordinal);
        Assert.Single(calls);
    }

    [Fact]
    public async Task Kubernetes_PodNameTemplate_MapsTheEngineId()
    {
        var calls = new ConcurrentQueue<Call>();
        await using var server = await FakeApiServerAsync(calls, oldReads: 0);
        using var restarter = new KubernetesRestarter(Options.Create(new OrchestratorOptions
        {
            Kubernetes = new KubernetesRestarterOptions { ApiServer = server.BaseUri.ToString(), Namespace = "prod", PodName = "vllm-{engine}" },
        }));

        await restarter.RestartAsync(Engine, TestContext.Current.CancellationToken);

        Assert.Equal("/api/v1/namespaces/prod/pods/vllm-enginegeneral-1", calls.First().Path);
    }

    [Fact]
    public async Task AppHost_Restart_PostsToTheControlApiFromConfiguration()
    {
        var calls = new ConcurrentQueue<Call>();
        await using var server = await TestServer.StartAsync(_ => { }, app =>
            app.MapPost("/resources/{target}/restart", (string target) =>
            {
                calls.Enqueue(new Call("POST", $"/resources/{target}/restart", ""));
                return target == "enginegeneral-1" ? Results.Ok(Array.Empty<object>()) : Results.NotFound(new { error = $"No resource or replica named '{target}'." });
            }));
        var configuration = new ConfigurationBuilder().AddInMemoryCollection(new Dictionary<string, string?> { ["AppHost:ControlUrl"] = server.BaseUri.ToString().TrimEnd('/') }).Build();
        using var services = new ServiceCollection().AddHttpClient().BuildServiceProvider();
        var restarter = new AppHostRestarter(services.GetRequiredService<IHttpClientFactory>(), Options.Create(new OrchestratorOptions()), configuration);

        await restarter.RestartAsync(Engine, TestContext.Current.CancellationToken);
        var ex = await Assert.ThrowsAsync<EngineRestartException>(() => restarter.RestartAsync(Engine with { Id = "enginegeneral-7" }, TestContext.Current.CancellationToken));

        Assert.Equal(["/resources/enginegeneral-1/restart", "/resources/enginegeneral-7/restart"], calls.Select(c => c.Path));
        Assert.StartsWith("AppHost control API answered 404: ", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task AppHost_NoControlUrl_FailsClearly()
    {
        using var services = new ServiceCollection().AddHttpClient().BuildServiceProvider();
        var restarter = new AppHostRestarter(services.GetRequiredService<IHttpClientFactory>(), Options.Create(new OrchestratorOptions()), new ConfigurationBuilder().Build());

        var ex = await Assert.ThrowsAsync<EngineRestartException>(() => restarter.RestartAsync(Engine, TestContext.Current.CancellationToken));

        Assert.Contains("no AppHost control API configured", ex.Message, StringComparison.Ordinal);
    }

    /// <summary>A fake docker CLI: records its arguments, fails for containers whose name holds "missing".</summary>
    [System.Runtime.Versioning.UnsupportedOSPlatform("windows")]
    private static string FakeDocker(string directory)
    {
        var path = Path.Combine(directory, "docker");
        File.WriteAllText(path, """
            #!/bin/sh
            echo "$@" >> "$(dirname "$0")/calls.txt"
            case "$4" in
              *missing*) echo "Error response from daemon: No such container: $4" >&2; exit 1 ;;
            esac
            echo "$4"
            """.Replace("\r", "", StringComparison.Ordinal));
        File.SetUnixFileMode(path, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        return path;
    }

    [Fact]
    [System.Runtime.Versioning.UnsupportedOSPlatform("windows")]
    public async Task Docker_Restart_RunsDockerRestartOnTheEnginesContainer()
    {
        var directory = Directory.CreateTempSubdirectory("watchdog-docker-").FullName;
        try
        {
            var restarter = new DockerRestarter(Options.Create(new OrchestratorOptions
            {
                Kind = "docker",
                Docker = new DockerRestarterOptions { Executable = FakeDocker(directory), StopTimeoutSeconds = 12 },
            }));

            await restarter.RestartAsync(Engine, TestContext.Current.CancellationToken);
            var ex = await Assert.ThrowsAsync<EngineRestartException>(() => restarter.RestartAsync(Engine with { Id = "missing-0" }, TestContext.Current.CancellationToken));

            Assert.Equal(
                ["restart --time 12 platform-enginegeneral-1", "restart --time 12 platform-missing-0"],
                File.ReadAllLines(Path.Combine(directory, "calls.txt")));
            Assert.Contains("exited 1: Error response from daemon: No such container: platform-missing-0", ex.Message, StringComparison.Ordinal);
        }
        finally
        {
            Directory.Delete(directory, recursive: true);
        }
    }

    [Fact]
    public async Task Docker_ExecutableMissing_FailsClearly()
    {
        var restarter = new DockerRestarter(Options.Create(new OrchestratorOptions { Docker = new DockerRestarterOptions { Executable = "/nonexistent/docker" } }));

        var ex = await Assert.ThrowsAsync<EngineRestartException>(() => restarter.RestartAsync(Engine, TestContext.Current.CancellationToken));

        Assert.StartsWith("/nonexistent/docker cannot be run", ex.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("apphost", null)]
    [InlineData("kubernetes", null)]
    [InlineData("docker", null)]
    [InlineData("nomad", "Watchdog:Orchestrator:Kind 'nomad' is unknown")]
    public void Options_Kind_IsValidatedAtStart(string kind, string? error)
    {
        var result = new OrchestratorOptionsValidator().Validate(null, new OrchestratorOptions { Kind = kind });

        if (error is null)
        {
            Assert.True(result.Succeeded, result.FailureMessage);
        }
        else
        {
            Assert.Contains(error, result.FailureMessage, StringComparison.Ordinal);
        }
    }

    [Fact]
    public void Options_BadTemplatesAndUrls_AreEachReported()
    {
        var docker = new OrchestratorOptionsValidator().Validate(null, new OrchestratorOptions { Kind = "docker", Docker = new DockerRestarterOptions { Container = "fixed-name", Executable = "" } });
        var kubernetes = new OrchestratorOptionsValidator().Validate(null, new OrchestratorOptions { Kind = "kubernetes", Kubernetes = new KubernetesRestarterOptions { ApiServer = "not a url", PodName = "pod" } });

        Assert.Equal(2, docker.Failures!.Count());
        Assert.Equal(2, kubernetes.Failures!.Count());
        Assert.Contains("Watchdog:Orchestrator:Kubernetes:PodName must contain {engine}", kubernetes.FailureMessage, StringComparison.Ordinal);
    }
}
