using System.Text.Json.Nodes;
using Microsoft.Extensions.DependencyInjection;
using Platform.Classifier.V1;
using Platform.Fleet.Catalog;
using Platform.Gateway.Pipeline;
using Platform.Gateway.Routing;
using Platform.Gateway.Tests.Fixtures.Engines;
using Platform.Gateway.Upstream;

namespace Platform.Gateway.Tests.Classification;

public sealed class ClassificationRoutingTests
{
    private sealed class CountingClassifier(TaskKind answer) : IRequestClassifier
    {
        public int Calls;

        public ValueTask<TaskKind> ClassifyAsync(IReadOnlyList<ChatTurn> messages, CancellationToken cancellationToken)
        {
            Interlocked.Increment(ref Calls);
            return ValueTask.FromResult(answer);
        }
    }

    private static async Task<(RouteDecision Route, int Calls)> RunAsync(TaskKind hint, TaskKind classified)
    {
        var classifier = new CountingClassifier(classified);
        var upstream = new ScriptedUpstream().Then(new UpstreamDelta(0, "x", null, "stop", null), UpstreamEnd.Completed);
        var catalog = new FakeCatalog(
        [
            new ModelInfo("m", null, 4096, [FakeCatalog.Pool("code", "m", TaskAffinity.Code, 1), FakeCatalog.Pool("general", "m", TaskAffinity.General, 1)]),
        ]);
        using var host = EngineSideHost.Build(catalog, new FakeFleetState(), s =>
        {
            s.AddSingleton<IRequestClassifier>(classifier);
            s.AddSingleton<IUpstreamClient>(upstream);
        });
        var request = new GenerationRequest
        {
            Id = "chatcmpl-1", Api = GenerationApi.ChatCompletions, Model = "m", Tenant = "t", Frontend = "grpc", KindHint = hint,
            Messages = [new ChatTurn("user", "code please")], Body = new JsonObject { ["messages"] = new JsonArray() },
        };
        RouteDecision? route = null;
        await foreach (var e in host.Services.GetRequiredService<IGenerationPipeline>().RunAsync(request, TestContext.Current.CancellationToken))
        {
            route ??= (e as RoutedEvent)?.Route;
        }

        return (route!, classifier.Calls);
    }

    [Fact]
    public async Task RunAsync_NoHint_ClassifiesAndRoutesToMatchingPool()
    {
        var (route, calls) = await RunAsync(TaskKind.Unspecified, TaskKind.Code);

        Assert.Equal(1, calls);
        Assert.Equal("code", route.Pool);
        Assert.Equal(TaskKind.Code, route.Kind);
    }

    [Fact]
    public async Task RunAsync_KindHint_SkipsClassifier()
    {
        var (route, calls) = await RunAsync(TaskKind.General, TaskKind.Code);

        Assert.Equal(0, calls);
        Assert.Equal("general", route.Pool);
    }
}
