extern alias client;

using client::Platform.Inference.V1;
using Grpc.Core;
using Grpc.Net.Client;
using Platform.Gateway.Pipeline;
using Platform.Gateway.Tests.Fixtures.Stack;
using InferenceClient = client::Platform.Inference.V1.Inference.InferenceClient;
using TaskKind = client::Platform.Classifier.V1.TaskKind;

namespace Platform.Gateway.Tests.Grpc;

public sealed class InferenceServiceTests
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private static GenerateRequest Hello(string model = GatewayHost.Model) => new()
    {
        Model = model,
        Messages = { new ChatMessage { Role = "user", Content = "Say hello" } },
        MaxTokens = 16,
        Temperature = 0.5f,
    };

    private static Metadata Auth(string key = GatewayHost.Key) => new() { { "authorization", "Bearer " + key } };

    private static (GrpcChannel Channel, InferenceClient Client) Connect(GatewayHost host)
    {
        var channel = GrpcChannel.ForAddress(host.GrpcUri);
        return (channel, new InferenceClient(channel));
    }

    [Fact]
    public async Task Generate_StreamsDeltasThenFinish()
    {
        var (host, pipeline, _) = await GatewayHost.StartScriptedAsync();
        await using var _h = host;
        var (channel, client) = Connect(host);
        using var _c = channel;

        using var call = client.Generate(Hello(), Auth(), cancellationToken: Ct);
        var deltas = new List<string>();
        Finish? finish = null;
        await foreach (var message in call.ResponseStream.ReadAllAsync(Ct))
        {
            if (message.EventCase == GenerateResponse.EventOneofCase.Delta)
            {
                deltas.Add(message.Delta.Text);
            }
            else
            {
                finish = message.Finish;
            }
        }

        Assert.Equal(["Hello", " world"], deltas);
        Assert.NotNull(finish);
        Assert.Equal(FinishReason.Stop, finish.FinishReason);
        Assert.Equal(7, finish.Usage.TotalTokens);
        Assert.Equal("enginegeneral", finish.Routing.Pool);
        Assert.False(finish.Routing.Fallback);
        Assert.StartsWith("chatcmpl-", finish.Id, StringComparison.Ordinal);
        var request = Assert.Single(pipeline.Requests);
        Assert.Equal("grpc", request.Frontend);
        Assert.Equal(16, request.MaxTokens);
    }

    [Fact]
    public async Task Complete_ReturnsWholeText_AndTaskHintSkipsClassification()
    {
        var (host, pipeline, _) = await GatewayHost.StartScriptedAsync();
        await using var _h = host;
        var (channel, client) = Connect(host);
        using var _c = channel;
        var request = Hello();
        request.TaskHint = TaskKind.Code;

        var response = await client.CompleteAsync(request, Auth(), cancellationToken: Ct);

        Assert.Equal("Hello world", response.Text);
        Assert.Equal(FinishReason.Stop, response.FinishReason);
        Assert.Equal(GatewayHost.Model, response.Model);
        Assert.Equal(Platform.Classifier.V1.TaskKind.Code, Assert.Single(pipeline.Requests).KindHint);
    }

    [Fact]
    public async Task ListModels_OnlyAllowedModels()
    {
        var (host, _, _) = await GatewayHost.StartScriptedAsync();
        await using var _h = host;
        var (channel, client) = Connect(host);
        using var _c = channel;

        var all = await client.ListModelsAsync(new ListModelsRequest(), Auth(), cancellationToken: Ct);
        var phi = await client.ListModelsAsync(new ListModelsRequest(), Auth(GatewayHost.PhiOnlyKey), cancellationToken: Ct);

        var llama = all.Models.Single(m => m.Id == GatewayHost.Model);
        Assert.Equal(32768, llama.MaxContextLength);
        Assert.Equal(GatewayHost.FallbackModel, llama.FallbackModel);
        Assert.Equal(["enginegeneral"], llama.Pools);
        Assert.Equal(GatewayHost.FallbackModel, Assert.Single(phi.Models).Id);
    }

    [Fact]
    public async Task Errors_MappedToStatusCodes_WithoutUpstreamCall()
    {
        var (host, pipeline, _) = await GatewayHost.StartScriptedAsync();
        await using var _h = host;
        var (channel, client) = Connect(host);
        using var _c = channel;

        var noKey = await Assert.ThrowsAsync<RpcException>(() => client.CompleteAsync(Hello(), cancellationToken: Ct).ResponseAsync);
        Assert.Equal(StatusCode.Unauthenticated, noKey.StatusCode);
        var badKey = await Assert.ThrowsAsync<RpcException>(() => client.CompleteAsync(Hello(), Auth("sk-nope"), cancellationToken: Ct).ResponseAsync);
        Assert.Equal(StatusCode.Unauthenticated, badKey.StatusCode);
        var twoKeys = new Metadata { { "authorization", "Bearer " + GatewayHost.Key }, { "authorization", "Bearer " + GatewayHost.Key } };
        var dup = await Assert.ThrowsAsync<RpcException>(() => client.CompleteAsync(Hello(), twoKeys, cancellationToken: Ct).ResponseAsync);
        Assert.Equal(StatusCode.Unauthenticated, dup.StatusCode);
        var denied = await Assert.ThrowsAsync<RpcException>(() => client.CompleteAsync(Hello(), Auth(GatewayHost.PhiOnlyKey), cancellationToken: Ct).ResponseAsync);
        Assert.Equal(StatusCode.PermissionDenied, denied.StatusCode);
        var unknown = await Assert.ThrowsAsync<RpcException>(() => client.CompleteAsync(Hello("nope"), Auth(), cancellationToken: Ct).ResponseAsync);
        Assert.Equal(StatusCode.NotFound, unknown.StatusCode);
        var hot = Hello();
        hot.Temperature = 99;
        var invalid = await Assert.ThrowsAsync<RpcException>(() => client.CompleteAsync(hot, Auth(), cancellationToken: Ct).ResponseAsync);
        Assert.Equal(StatusCode.InvalidArgument, invalid.StatusCode);
        Assert.Contains("temperature", invalid.Status.Detail, StringComparison.Ordinal);
        var empty = new GenerateRequest { Model = GatewayHost.Model };
        var noMessages = await Assert.ThrowsAsync<RpcException>(() => client.CompleteAsync(empty, Auth(), cancellationToken: Ct).ResponseAsync);
        Assert.Equal(StatusCode.InvalidArgument, noMessages.StatusCode);
        var role = Hello();
        role.Messages.Add(new ChatMessage { Role = "wizard", Content = "x" });
        var badRole = await Assert.ThrowsAsync<RpcException>(() => client.CompleteAsync(role, Auth(), cancellationToken: Ct).ResponseAsync);
        Assert.Equal(StatusCode.InvalidArgument, badRole.StatusCode);
        Assert.Empty(pipeline.Requests);
    }

    [Fact]
    public async Task RateLimited_ResourceExhaustedWithRetryAfterMs()
    {
        var (host, _, _) = await GatewayHost.StartScriptedAsync();
        await using var _h = host;
        var (channel, client) = Connect(host);
        using var _c = channel;

        await client.CompleteAsync(Hello(), Auth(GatewayHost.LimitedKey), cancellationToken: Ct);
        await client.CompleteAsync(Hello(), Auth(GatewayHost.LimitedKey), cancellationToken: Ct);
        var limited = await Assert.ThrowsAsync<RpcException>(() => client.CompleteAsync(Hello(), Auth(GatewayHost.LimitedKey), cancellationToken: Ct).ResponseAsync);

        Assert.Equal(StatusCode.ResourceExhausted, limited.StatusCode);
        Assert.Equal("42000", limited.Trailers.GetValue("retry-after-ms"));
    }

    [Fact]
    public async Task NoEngine_UnavailableWithRetryAfterMs()
    {
        var (host, pipeline, _) = await GatewayHost.StartScriptedAsync();
        await using var _h = host;
        pipeline.Script = (_, _) => ScriptedPipeline.Fail(new GatewayError(503, "service_unavailable", "No engine can take the request.", null, "no_engine_available", TimeSpan.FromMilliseconds(1500)), afterContent: false);
        var (channel, client) = Connect(host);
        using var _c = channel;

        var error = await Assert.ThrowsAsync<RpcException>(() => client.CompleteAsync(Hello(), Auth(), cancellationToken: Ct).ResponseAsync);

        Assert.Equal(StatusCode.Unavailable, error.StatusCode);
        Assert.Equal("1500", error.Trailers.GetValue("retry-after-ms"));
    }

    [Fact]
    public async Task Fallback_TrailerSet()
    {
        var (host, pipeline, _) = await GatewayHost.StartScriptedAsync();
        await using var _h = host;
        pipeline.Script = (r, ct) => ScriptedPipeline.Hello(r, ct, fallback: true);
        var (channel, client) = Connect(host);
        using var _c = channel;

        using var call = client.CompleteAsync(Hello(), Auth(), cancellationToken: Ct);
        var response = await call.ResponseAsync;

        Assert.True(response.Routing.Fallback);
        Assert.Equal(GatewayHost.FallbackModel, response.Model);
        Assert.Equal("true", call.GetTrailers().GetValue("x-platform-fallback"));
    }

    [Fact]
    public async Task Deadline_Exceeded_CancelsPipeline()
    {
        var (host, pipeline, _) = await GatewayHost.StartScriptedAsync();
        await using var _h = host;
        pipeline.Script = pipeline.HangAfterFirstPiece;
        var (channel, client) = Connect(host);
        using var _c = channel;

        using var call = client.Generate(Hello(), Auth(), deadline: DateTime.UtcNow.AddMilliseconds(500), cancellationToken: Ct);
        var error = await Assert.ThrowsAsync<RpcException>(async () =>
        {
            await foreach (var _ in call.ResponseStream.ReadAllAsync(Ct))
            {
            }
        });

        Assert.Equal(StatusCode.DeadlineExceeded, error.StatusCode);
        await pipeline.Cancelled.Task.WaitAsync(TimeSpan.FromSeconds(10), Ct);
    }

    [Fact]
    public async Task ClientCancel_CancelsPipeline()
    {
        var (host, pipeline, _) = await GatewayHost.StartScriptedAsync();
        await using var _h = host;
        pipeline.Script = pipeline.HangAfterFirstPiece;
        var (channel, client) = Connect(host);
        using var _c = channel;
        using var cts = CancellationTokenSource.CreateLinkedTokenSource(Ct);

        using var call = client.Generate(Hello(), Auth(), cancellationToken: cts.Token);
        Assert.True(await call.ResponseStream.MoveNext(Ct));
        Assert.Equal("Hello", call.ResponseStream.Current.Delta.Text);
        await cts.CancelAsync();

        await pipeline.Cancelled.Task.WaitAsync(TimeSpan.FromSeconds(10), Ct);
    }
}
