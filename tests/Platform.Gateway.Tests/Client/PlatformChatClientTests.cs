extern alias client;

using client::Platform.Client;
using Grpc.Core;
using Grpc.Net.Client;
using Microsoft.Extensions.AI;
using Microsoft.Extensions.DependencyInjection;
using Platform.Gateway.Tests.Fixtures.Stack;
using PlatformClientExtensions = client::Microsoft.Extensions.Hosting.PlatformClientExtensions;

namespace Platform.Gateway.Tests.Client;

public sealed class PlatformChatClientTests
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task GetResponseAsync_MapsOptionsToRequest_AndUsageToDetails()
    {
        var (host, pipeline, _) = await GatewayHost.StartScriptedAsync();
        await using var _h = host;
        using var channel = GrpcChannel.ForAddress(host.GrpcUri);
        using var chat = new PlatformChatClient(new PlatformInferenceClient(channel, GatewayHost.Key), GatewayHost.Model);

        var response = await chat.GetResponseAsync(
            [new ChatMessage(ChatRole.System, "Be brief."), new ChatMessage(ChatRole.User, "Say hello")],
            new ChatOptions { MaxOutputTokens = 20, Temperature = 0.25f, TopP = 0.5f, Seed = 7, StopSequences = ["\n\n"] },
            Ct);

        Assert.Equal("Hello world", response.Text);
        Assert.Equal(ChatFinishReason.Stop, response.FinishReason);
        Assert.Equal(5, response.Usage?.InputTokenCount);
        Assert.Equal(2, response.Usage?.OutputTokenCount);
        Assert.Equal(7, response.Usage?.TotalTokenCount);
        Assert.Equal(GatewayHost.Model, response.ModelId);
        var request = Assert.Single(pipeline.Requests);
        Assert.Equal(["system", "user"], request.Messages.Select(m => m.Role));
        Assert.Equal(20, (int)request.Body["max_tokens"]!);
        Assert.Equal(0.25, (double)request.Body["temperature"]!, 5);
        Assert.Equal(0.5, (double)request.Body["top_p"]!, 5);
        Assert.Equal(7, (long)request.Body["seed"]!);
        Assert.Equal("\n\n", (string)request.Body["stop"]![0]!);
    }

    [Fact]
    public async Task GetStreamingResponseAsync_DeltasThenFinishWithUsage()
    {
        var (host, _, _) = await GatewayHost.StartScriptedAsync();
        await using var _h = host;
        using var channel = GrpcChannel.ForAddress(host.GrpcUri);
        using var chat = new PlatformChatClient(new PlatformInferenceClient(channel, GatewayHost.Key));

        var updates = new List<ChatResponseUpdate>();
        await foreach (var update in chat.GetStreamingResponseAsync([new ChatMessage(ChatRole.User, "hi")], new ChatOptions { ModelId = GatewayHost.Model }, Ct))
        {
            updates.Add(update);
        }

        var response = updates.ToChatResponse();
        Assert.Equal("Hello world", response.Text);
        Assert.Equal(ChatFinishReason.Stop, response.FinishReason);
        Assert.Equal(7, response.Usage?.TotalTokenCount);
        Assert.StartsWith("chatcmpl-", response.ResponseId, StringComparison.Ordinal);
    }

    [Fact]
    public async Task AddPlatformInferenceClient_ResolvesClients_BadKeyUnauthenticated()
    {
        var (host, _, _) = await GatewayHost.StartScriptedAsync();
        await using var _h = host;
        var services = new ServiceCollection();
        PlatformClientExtensions.AddPlatformInferenceClient(services, host.GrpcUri, GatewayHost.Key, GatewayHost.Model);
        await using var provider = services.BuildServiceProvider();

        var models = await provider.GetRequiredService<PlatformInferenceClient>().ListModelsAsync(Ct);
        Assert.Contains(models, m => m.Id == GatewayHost.Model);
        var chat = provider.GetRequiredService<IChatClient>();
        Assert.Equal("Hello world", (await chat.GetResponseAsync("hi", cancellationToken: Ct)).Text);
        Assert.Equal("platform", chat.GetService<ChatClientMetadata>()?.ProviderName);

        var bad = new ServiceCollection();
        PlatformClientExtensions.AddPlatformInferenceClient(bad, host.GrpcUri, "sk-wrong", GatewayHost.Model);
        await using var badProvider = bad.BuildServiceProvider();
        var error = await Assert.ThrowsAsync<RpcException>(() => badProvider.GetRequiredService<IChatClient>().GetResponseAsync("hi", cancellationToken: Ct));
        Assert.Equal(StatusCode.Unauthenticated, error.StatusCode);
    }
}
