using System.Net;
using System.Net.Sockets;
using System.Text.Json.Nodes;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Options;
using Platform.Fleet.Catalog;
using Platform.Gateway.Pipeline;
using Platform.Gateway.Tests.Fixtures.Engines;
using Platform.Gateway.Upstream;

namespace Platform.Gateway.Tests.Upstream;

/// <summary>The upstream client over real sockets against scripted engines: every way a call can end.</summary>
public sealed class EngineHttpClientTests
{
    private static EngineHttpClient Client(TimeSpan? firstToken = null, TimeSpan? idle = null)
    {
        var services = new ServiceCollection();
        services.AddEngineHttpClient();
        var provider = services.BuildServiceProvider();
        var options = new UpstreamOptions
        {
            FirstTokenTimeout = firstToken ?? TimeSpan.FromSeconds(10),
            IdleTimeout = idle ?? TimeSpan.FromSeconds(10),
        };
        return new EngineHttpClient(provider.GetRequiredService<IHttpClientFactory>(), Options.Create(options), TimeProvider.System);
    }

    private static UpstreamRequest Request(Uri baseUri) =>
        new(new EngineInfo("e", "p", "m", baseUri), GenerationApi.ChatCompletions, new JsonObject { ["model"] = "m", ["stream"] = true });

    private static async Task<List<UpstreamEvent>> Collect(EngineHttpClient client, UpstreamRequest request, CancellationToken ct = default)
    {
        var events = new List<UpstreamEvent>();
        await foreach (var e in client.StreamAsync(request, ct))
        {
            events.Add(e);
        }

        return events;
    }

    private static async Task WriteAsync(HttpResponse response, string text)
    {
        await response.WriteAsync(text);
        await response.Body.FlushAsync();
    }

    [Fact]
    public async Task StreamAsync_NormalStream_YieldsDeltasUsageAndCompleted()
    {
        string? path = null;
        await using var server = await ScriptedEngineServer.StartAsync(async ctx =>
        {
            path = ctx.Request.Path;
            ctx.Response.ContentType = "text/event-stream";
            await WriteAsync(ctx.Response, "data: {\"choices\":[{\"index\":0,\"delta\":{\"role\":\"assistant\",\"content\":\"\"}}]}\n\n");
            await WriteAsync(ctx.Response, "data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"Hi\"}}],\"usage\":{\"prompt_tokens\":4,\"completion_tokens\":1}}\r\n\r\n: keep-alive\n\n");
            await WriteAsync(ctx.Response, "data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\" there\"},\"finish_reason\":\"stop\",\"stop_reason\":null}]}\n\ndata: {\"choices\":[],\"usage\":{\"prompt_tokens\":4,\"completion_tokens\":2}}\n\ndata: [DONE]\n\n");
        });

        var events = await Collect(Client(), Request(server.BaseUri), TestContext.Current.CancellationToken);

        Assert.Equal("/v1/chat/completions", path);
        Assert.Equal("Hi there", string.Concat(events.OfType<UpstreamDelta>().Select(d => d.Text)));
        Assert.Equal(new UpstreamUsage(4, 2, 0), events.OfType<UpstreamUsage>().Last());
        Assert.Equal(UpstreamError.None, Assert.IsType<UpstreamEnd>(events[^1]).Error);
    }

    [Fact]
    public async Task StreamAsync_BadRequest_RelaysStatusAndBody()
    {
        await using var server = await ScriptedEngineServer.StartAsync(async ctx =>
        {
            ctx.Response.StatusCode = 400;
            await ctx.Response.WriteAsync("""{"error":{"message":"bad","type":"BadRequestError","param":null,"code":400}}""");
        });

        var end = Assert.IsType<UpstreamEnd>(Assert.Single(await Collect(Client(), Request(server.BaseUri), TestContext.Current.CancellationToken)));

        Assert.Equal(UpstreamError.RequestRejected, end.Error);
        Assert.Equal(400, end.Status);
        Assert.Contains("\"bad\"", end.ErrorBody, StringComparison.Ordinal);
        Assert.False(end.IsEngineFailure);
    }

    [Fact]
    public async Task StreamAsync_ServiceUnavailable_ServerErrorWithRetryAfter()
    {
        await using var server = await ScriptedEngineServer.StartAsync(ctx =>
        {
            ctx.Response.StatusCode = 503;
            ctx.Response.Headers.RetryAfter = "2";
            return Task.CompletedTask;
        });

        var end = Assert.IsType<UpstreamEnd>(Assert.Single(await Collect(Client(), Request(server.BaseUri), TestContext.Current.CancellationToken)));

        Assert.Equal(UpstreamError.ServerError, end.Error);
        Assert.Equal(TimeSpan.FromSeconds(2), end.RetryAfter);
        Assert.True(end.IsEngineFailure);
    }

    [Fact]
    public async Task StreamAsync_NothingListening_ConnectFailed()
    {
        int port;
        using (var listener = new TcpListener(IPAddress.Loopback, 0))
        {
            listener.Start();
            port = ((IPEndPoint)listener.LocalEndpoint).Port;
        }

        var events = await Collect(Client(), Request(new Uri($"http://127.0.0.1:{port}/")), TestContext.Current.CancellationToken);

        Assert.Equal(UpstreamError.ConnectFailed, Assert.IsType<UpstreamEnd>(Assert.Single(events)).Error);
    }

    [Fact]
    public async Task StreamAsync_NoFirstEvent_FirstTokenTimeout()
    {
        await using var server = await ScriptedEngineServer.StartAsync(async ctx =>
        {
            await ctx.Response.Body.FlushAsync();
            await Task.Delay(Timeout.Infinite, ctx.RequestAborted).ContinueWith(_ => { }, TaskScheduler.Default);
        });

        var events = await Collect(Client(firstToken: TimeSpan.FromMilliseconds(200)), Request(server.BaseUri), TestContext.Current.CancellationToken);

        Assert.Equal(UpstreamError.FirstTokenTimeout, Assert.IsType<UpstreamEnd>(events[^1]).Error);
    }

    [Fact]
    public async Task StreamAsync_OnlyCommentsBeforeFirstEvent_FirstTokenTimeout()
    {
        await using var server = await ScriptedEngineServer.StartAsync(async ctx =>
        {
            while (!ctx.RequestAborted.IsCancellationRequested)
            {
                await WriteAsync(ctx.Response, ": ping\n\n");
                await Task.Delay(50, ctx.RequestAborted).ContinueWith(_ => { }, TaskScheduler.Default);
            }
        });

        var watch = System.Diagnostics.Stopwatch.StartNew();

        var events = await Collect(Client(firstToken: TimeSpan.FromMilliseconds(300), idle: TimeSpan.FromSeconds(20)), Request(server.BaseUri), TestContext.Current.CancellationToken);

        Assert.Equal(UpstreamError.FirstTokenTimeout, Assert.IsType<UpstreamEnd>(Assert.Single(events)).Error);
        Assert.True(watch.Elapsed < TimeSpan.FromSeconds(10), $"the idle timeout ran instead ({watch.Elapsed})");
    }

    [Fact]
    public async Task StreamAsync_SilenceAfterFirstEvent_IdleTimeout()
    {
        await using var server = await ScriptedEngineServer.StartAsync(async ctx =>
        {
            await WriteAsync(ctx.Response, "data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"a\"}}]}\n\n");
            await Task.Delay(Timeout.Infinite, ctx.RequestAborted).ContinueWith(_ => { }, TaskScheduler.Default);
        });

        var events = await Collect(Client(idle: TimeSpan.FromMilliseconds(200)), Request(server.BaseUri), TestContext.Current.CancellationToken);

        Assert.Single(events.OfType<UpstreamDelta>());
        Assert.Equal(UpstreamError.IdleTimeout, Assert.IsType<UpstreamEnd>(events[^1]).Error);
    }

    [Fact]
    public async Task StreamAsync_SlowConsumer_NotAnIdleTimeout()
    {
        await using var server = await ScriptedEngineServer.StartAsync(async ctx =>
        {
            await WriteAsync(ctx.Response, "data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"a\"}}]}\n\n");
            await WriteAsync(ctx.Response, "data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"b\"},\"finish_reason\":\"stop\"}]}\n\ndata: [DONE]\n\n");
        });
        var events = new List<UpstreamEvent>();

        await foreach (var e in Client(idle: TimeSpan.FromMilliseconds(100)).StreamAsync(Request(server.BaseUri), TestContext.Current.CancellationToken))
        {
            events.Add(e);

            // A client reading slowly holds the relay longer than the idle timeout.
            await Task.Delay(300, TestContext.Current.CancellationToken);
        }

        Assert.Equal(UpstreamError.None, Assert.IsType<UpstreamEnd>(events[^1]).Error);
    }

    [Theory]
    [InlineData("data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"a\"}}]}\n\n")]
    [InlineData("data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"a\"}}]}\n\ndata: [DONE]\n\n")]
    [InlineData("data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"a\"}}]}\n\ndata: {\"error\":{\"message\":\"engine dead\"}}\n\ndata: [DONE]\n\n")]
    public async Task StreamAsync_EndsWithoutFinishOrDone_StreamBroken(string body)
    {
        await using var server = await ScriptedEngineServer.StartAsync(ctx => WriteAsync(ctx.Response, body));

        var events = await Collect(Client(), Request(server.BaseUri), TestContext.Current.CancellationToken);

        Assert.Equal(UpstreamError.StreamBroken, Assert.IsType<UpstreamEnd>(events[^1]).Error);
    }

    [Fact]
    public async Task StreamAsync_CallerCancels_CanceledAndEngineSeesAbort()
    {
        var aborted = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        await using var server = await ScriptedEngineServer.StartAsync(async ctx =>
        {
            ctx.RequestAborted.Register(() => aborted.TrySetResult());
            await WriteAsync(ctx.Response, "data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"a\"}}]}\n\n");
            await Task.Delay(Timeout.Infinite, ctx.RequestAborted).ContinueWith(_ => { }, TaskScheduler.Default);
        });
        using var cts = new CancellationTokenSource();
        var events = new List<UpstreamEvent>();

        await foreach (var e in Client().StreamAsync(Request(server.BaseUri), cts.Token))
        {
            events.Add(e);
            if (e is UpstreamDelta)
            {
                await cts.CancelAsync();
            }
        }

        Assert.Equal(UpstreamError.Canceled, Assert.IsType<UpstreamEnd>(events[^1]).Error);
        await aborted.Task.WaitAsync(TimeSpan.FromSeconds(5), TestContext.Current.CancellationToken);
    }

    [Fact]
    public async Task StreamAsync_CallerCancelsAfterHeadersBeforeFirstEvent_CanceledAndEngineSeesAbort()
    {
        // As vLLM answers a stream: status and headers at once, then nothing until the first token.
        var headersSent = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var aborted = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        await using var server = await ScriptedEngineServer.StartAsync(async ctx =>
        {
            ctx.RequestAborted.Register(() => aborted.TrySetResult());
            ctx.Response.ContentType = "text/event-stream";
            await ctx.Response.StartAsync(ctx.RequestAborted);
            await ctx.Response.Body.FlushAsync(ctx.RequestAborted);
            headersSent.TrySetResult();
            await Task.Delay(Timeout.Infinite, ctx.RequestAborted).ContinueWith(_ => { }, TaskScheduler.Default);
        });
        using var cts = new CancellationTokenSource();
        var events = Collect(Client(), Request(server.BaseUri), cts.Token);
        await headersSent.Task.WaitAsync(TimeSpan.FromSeconds(10), TestContext.Current.CancellationToken);

        await cts.CancelAsync();

        var end = Assert.IsType<UpstreamEnd>(Assert.Single(await events.WaitAsync(TimeSpan.FromSeconds(10), TestContext.Current.CancellationToken)));
        Assert.Equal(UpstreamError.Canceled, end.Error);
        await aborted.Task.WaitAsync(TimeSpan.FromSeconds(5), TestContext.Current.CancellationToken);
    }

    [Fact]
    public void AddEngineHttpClient_UnderServiceDefaults_NoDelegatingHandlerBeforeTheSocketsHandler()
    {
        // ServiceDefaults gives every client logging and service-discovery handlers; each is one more frame that a
        // cancelled engine call (a client disconnect) unwinds through with its exception.
        var builder = Host.CreateEmptyApplicationBuilder(new HostApplicationBuilderSettings());
        builder.AddServiceDefaults();
        builder.Services.AddEngineHttpClient();
        using var provider = builder.Services.BuildServiceProvider();

        var chain = new List<string>();
        for (HttpMessageHandler? h = provider.GetRequiredService<IHttpMessageHandlerFactory>().CreateHandler(EngineHttpClient.HttpClientName); h is not null; h = (h as DelegatingHandler)?.InnerHandler)
        {
            chain.Add(h.GetType().Name);
        }

        Assert.Equal(nameof(SocketsHttpHandler), chain[^1]);
        Assert.DoesNotContain(chain, name => name.Contains("Logging", StringComparison.Ordinal) || name.Contains("Resolving", StringComparison.Ordinal));
    }
}
