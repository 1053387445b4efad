using System.Net;
using Grpc.Core;
using Grpc.Health.V1;
using Grpc.Net.Client;
using Grpc.Reflection.V1Alpha;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Http.Resilience;
using Platform.Classifier.V1;

namespace Platform.ServiceDefaults.Tests;

public sealed class ExtensionsTests
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task MapDefaultEndpoints_HttpEndpoint_ServesHealthAliveAndPrometheus()
    {
        await using var server = await TestServer.StartAsync();
        using var http = new HttpClient { BaseAddress = server.HttpUri };

        using var health = await http.GetAsync("/health", Ct);
        using var alive = await http.GetAsync("/alive", Ct);
        var metrics = await http.GetStringAsync("/metrics", Ct);

        Assert.Equal(HttpStatusCode.OK, health.StatusCode);
        Assert.Equal("Healthy", await health.Content.ReadAsStringAsync(Ct));
        Assert.Equal(HttpStatusCode.OK, alive.StatusCode);
        Assert.Contains("# TYPE ", metrics, StringComparison.Ordinal);
    }

    [Fact]
    public async Task AddServiceDefaults_FailingReadinessCheck_FailsHealthButNotAlive()
    {
        await using var server = await TestServer.StartAsync(b => b.Services.AddHealthChecks()
            .AddCheck("engine", () => Microsoft.Extensions.Diagnostics.HealthChecks.HealthCheckResult.Unhealthy("down")));
        using var http = new HttpClient { BaseAddress = server.HttpUri };

        using var health = await http.GetAsync("/health", Ct);
        using var alive = await http.GetAsync("/alive", Ct);

        Assert.Equal(HttpStatusCode.ServiceUnavailable, health.StatusCode);
        Assert.Equal(HttpStatusCode.OK, alive.StatusCode);
    }

    [Fact]
    public async Task ConfigureNamedEndpoints_HttpEndpoint_IsHttp11Only()
    {
        await using var server = await TestServer.StartAsync();
        using var http = new HttpClient();

        using var request = new HttpRequestMessage(HttpMethod.Get, new Uri(server.HttpUri, "/alive"))
        {
            Version = HttpVersion.Version20,
            VersionPolicy = HttpVersionPolicy.RequestVersionExact,
        };

        // Prior-knowledge h2c against an HTTP/1.1-only endpoint cannot succeed.
        await Assert.ThrowsAsync<HttpRequestException>(() => http.SendAsync(request, Ct));
    }

    [Fact]
    public async Task AddGrpcServiceDefaults_GrpcEndpoint_ServesServiceOverH2c()
    {
        await using var server = await TestServer.StartAsync();
        using var channel = GrpcChannel.ForAddress(server.GrpcUri);
        var client = new Classifier.V1.Classifier.ClassifierClient(channel);

        var code = await client.ClassifyAsync(Request("def add(a, b):"), cancellationToken: Ct);
        var prose = await client.ClassifyAsync(Request("Tell me about otters."), cancellationToken: Ct);
        var error = await Assert.ThrowsAsync<RpcException>(
            () => client.ClassifyAsync(new ClassifyRequest(), cancellationToken: Ct).ResponseAsync);

        Assert.Equal(TaskKind.Code, code.Kind);
        Assert.Equal(TaskKind.General, prose.Kind);
        Assert.Equal(StatusCode.InvalidArgument, error.StatusCode);
    }

    [Fact]
    public async Task MapGrpcDefaultEndpoints_HealthService_ReportsServingAndNotServing()
    {
        var healthy = true;
        await using var server = await TestServer.StartAsync(b => b.Services.AddHealthChecks().AddCheck(
            "toggle",
            () => healthy
                ? Microsoft.Extensions.Diagnostics.HealthChecks.HealthCheckResult.Healthy()
                : Microsoft.Extensions.Diagnostics.HealthChecks.HealthCheckResult.Unhealthy()));
        using var channel = GrpcChannel.ForAddress(server.GrpcUri);
        var client = new Grpc.Health.V1.Health.HealthClient(channel);

        var serving = await client.CheckAsync(new HealthCheckRequest(), cancellationToken: Ct);
        healthy = false;
        var notServing = await WaitForAsync(
            async () => (await client.CheckAsync(new HealthCheckRequest(), cancellationToken: Ct)).Status,
            s => s == HealthCheckResponse.Types.ServingStatus.NotServing);

        Assert.Equal(HealthCheckResponse.Types.ServingStatus.Serving, serving.Status);
        Assert.Equal(HealthCheckResponse.Types.ServingStatus.NotServing, notServing);
    }

    [Fact]
    public async Task MapGrpcDefaultEndpoints_Reflection_ListsContractAndHealth()
    {
        await using var server = await TestServer.StartAsync();
        using var channel = GrpcChannel.ForAddress(server.GrpcUri);
        var client = new ServerReflection.ServerReflectionClient(channel);

        using var call = client.ServerReflectionInfo(cancellationToken: Ct);
        await call.RequestStream.WriteAsync(new ServerReflectionRequest { ListServices = "" }, Ct);
        await call.RequestStream.CompleteAsync();
        Assert.True(await call.ResponseStream.MoveNext(Ct));
        var names = call.ResponseStream.Current.ListServicesResponse.Service.Select(s => s.Name).ToArray();

        Assert.Contains("platform.classifier.v1.Classifier", names);
        Assert.Contains("grpc.health.v1.Health", names);
    }

    [Fact]
    public async Task AddStreamingHttpClient_SlowResponse_IsNotCutByStandardTotalTimeout()
    {
        // The standard pipeline's total timeout is shortened to 1 s; the server answers after 2 s, as an engine
        // does when it returns a long non-streaming generation or queues a stream before its first event.
        await using var server = await TestServer.StartAsync(
            b => b.Services.ConfigureAll<HttpStandardResilienceOptions>(o =>
            {
                o.TotalRequestTimeout.Timeout = TimeSpan.FromSeconds(1);
                o.AttemptTimeout.Timeout = TimeSpan.FromMilliseconds(500);
                o.Retry.MaxRetryAttempts = 1;
            }),
            app => app.MapGet("/slow", async (HttpContext context) =>
            {
                await Task.Delay(TimeSpan.FromSeconds(2), context.RequestAborted);
                return "done";
            }));
        var factory = server.Services.GetRequiredService<IHttpClientFactory>();
        var url = new Uri(server.HttpUri, "/slow");

        using var standard = factory.CreateClient("unary");
        using var streaming = factory.CreateClient(Microsoft.Extensions.Hosting.Extensions.StreamingHttpClientName);

        await Assert.ThrowsAnyAsync<Exception>(() => standard.GetStringAsync(url, Ct));
        Assert.Equal("done", await streaming.GetStringAsync(url, Ct));
        Assert.Equal(Timeout.InfiniteTimeSpan, streaming.Timeout);
    }

    [Fact]
    public async Task AddStreamingHttpClient_ResponseDisposedMidStream_UpstreamSeesAbortAtOnce()
    {
        // The default handler drains up to 1 MiB for up to 2 s after a half-read response is disposed, so an
        // engine would keep generating for a client that left. The streaming client closes the connection.
        var aborted = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        await using var server = await TestServer.StartAsync(map: app => app.MapGet("/endless", async (HttpContext context) =>
        {
            context.RequestAborted.Register(() => aborted.TrySetResult());
            var chunk = new byte[1024];
            try
            {
                while (!context.RequestAborted.IsCancellationRequested)
                {
                    await context.Response.Body.WriteAsync(chunk, context.RequestAborted);
                    await context.Response.Body.FlushAsync(context.RequestAborted);
                    await Task.Delay(10, context.RequestAborted);
                }
            }
            catch (OperationCanceledException)
            {
            }
        }));
        var factory = server.Services.GetRequiredService<IHttpClientFactory>();
        using var streaming = factory.CreateClient(Microsoft.Extensions.Hosting.Extensions.StreamingHttpClientName);

        using (var response = await streaming.GetAsync(new Uri(server.HttpUri, "/endless"), HttpCompletionOption.ResponseHeadersRead, Ct))
        {
            await using var body = await response.Content.ReadAsStreamAsync(Ct);
            var buffer = new byte[16];
            Assert.True(await body.ReadAsync(buffer, Ct) > 0);
        }

        // Well under the 2 s drain a default handler would take.
        await aborted.Task.WaitAsync(TimeSpan.FromMilliseconds(1500), Ct);
    }

    [Fact]
    public void IsInfrastructurePath_HealthAliveMetrics_AreExcludedFromTraces()
    {
        Assert.True(Microsoft.Extensions.Hosting.Extensions.IsInfrastructurePath("/health"));
        Assert.True(Microsoft.Extensions.Hosting.Extensions.IsInfrastructurePath("/alive"));
        Assert.True(Microsoft.Extensions.Hosting.Extensions.IsInfrastructurePath("/metrics"));
        Assert.False(Microsoft.Extensions.Hosting.Extensions.IsInfrastructurePath("/v1/chat/completions"));
    }

    private static ClassifyRequest Request(string content) =>
        new() { Messages = { new ChatMessage { Role = "user", Content = content } } };

    private static async Task<T> WaitForAsync<T>(Func<Task<T>> read, Func<T, bool> done)
    {
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(Ct);
        timeout.CancelAfter(TimeSpan.FromSeconds(10));
        while (true)
        {
            var value = await read();
            if (done(value))
            {
                return value;
            }

            await Task.Delay(50, timeout.Token);
        }
    }
}
