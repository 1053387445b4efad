using Grpc.Core;
using Platform.Classifier.V1;

namespace Platform.Classifier.Tests.Grpc;

public sealed class ClassifierServiceTests(ClassifierHost host) : IClassFixture<ClassifierHost>
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private static ClassifyRequest Request(params (string Role, string Content)[] messages)
    {
        var request = new ClassifyRequest();
        request.Messages.AddRange(messages.Select(m => new ChatMessage { Role = m.Role, Content = m.Content }));
        return request;
    }

    [Fact]
    public async Task Classify_CodeAsk_CodeWithConfidenceFeaturesAndTime()
    {
        var response = await host.Client.ClassifyAsync(
            Request(("system", "You are a helpful assistant."), ("user", "Write a Go function that reverses a slice.")), cancellationToken: Ct);

        Assert.Equal(TaskKind.Code, response.Kind);
        Assert.InRange(response.Confidence, 0.5, 1.0);
        Assert.InRange(response.Features.Count, 1, 8);
        var weights = response.Features.Select(f => Math.Abs(f.Weight)).ToList();
        Assert.Equal(weights.OrderByDescending(w => w), weights);
        Assert.All(response.Features, f => Assert.False(string.IsNullOrEmpty(f.Name)));
        Assert.True(response.ElapsedMicroseconds > 0);
    }

    [Fact]
    public async Task Classify_LastUserMessageDecides()
    {
        var response = await host.Client.ClassifyAsync(
            Request(("user", "Write a Python function that parses a date."), ("assistant", "```python\ndef parse(s): ...\n```"),
                ("user", "Thanks! Now write a short poem about autumn.")),
            cancellationToken: Ct);

        Assert.Equal(TaskKind.General, response.Kind);
    }

    [Fact]
    public async Task Classify_NoMessages_InvalidArgument()
    {
        var error = await Assert.ThrowsAsync<RpcException>(() => host.Client.ClassifyAsync(new ClassifyRequest(), cancellationToken: Ct).ResponseAsync);

        Assert.Equal(StatusCode.InvalidArgument, error.StatusCode);
        Assert.Contains("messages", error.Status.Detail, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Classify_UnknownRole_InvalidArgumentNamingIt()
    {
        var error = await Assert.ThrowsAsync<RpcException>(() =>
            host.Client.ClassifyAsync(Request(("user", "hi"), ("wizard", "hello")), cancellationToken: Ct).ResponseAsync);

        Assert.Equal(StatusCode.InvalidArgument, error.StatusCode);
        Assert.Contains("messages[1].role 'wizard'", error.Status.Detail, StringComparison.Ordinal);
    }

    [Fact]
    public async Task ClassifyBatch_KeepsRequestOrder()
    {
        var batch = new ClassifyBatchRequest();
        var prompts = Enumerable.Range(0, 100).Select(i => i % 2 == 0 ? $"Write a SQL query that counts rows in table t{i}." : $"Write a poem about the number {i}.").ToList();
        batch.Requests.AddRange(prompts.Select(p => Request(("user", p))));

        var response = await host.Client.ClassifyBatchAsync(batch, cancellationToken: Ct);

        Assert.Equal(100, response.Responses.Count);
        for (var i = 0; i < 100; i++)
        {
            Assert.Equal(i % 2 == 0 ? TaskKind.Code : TaskKind.General, response.Responses[i].Kind);
        }
    }

    [Theory]
    [InlineData(0)]
    [InlineData(1025)]
    public async Task ClassifyBatch_EmptyOrTooLarge_InvalidArgument(int size)
    {
        var batch = new ClassifyBatchRequest();
        batch.Requests.AddRange(Enumerable.Range(0, size).Select(_ => Request(("user", "hi"))));

        var error = await Assert.ThrowsAsync<RpcException>(() => host.Client.ClassifyBatchAsync(batch, cancellationToken: Ct).ResponseAsync);

        Assert.Equal(StatusCode.InvalidArgument, error.StatusCode);
    }

    [Fact]
    public async Task ClassifyBatch_MaxSize_Accepted()
    {
        var batch = new ClassifyBatchRequest();
        batch.Requests.AddRange(Enumerable.Range(0, 1024).Select(_ => Request(("user", "Explain recursion."))));

        var response = await host.Client.ClassifyBatchAsync(batch, cancellationToken: Ct);

        Assert.Equal(1024, response.Responses.Count);
    }

    [Fact]
    public async Task ClassifyBatch_OneBadConversation_InvalidArgumentNamingIt()
    {
        var batch = new ClassifyBatchRequest();
        batch.Requests.Add(Request(("user", "hi")));
        batch.Requests.Add(new ClassifyRequest());

        var error = await Assert.ThrowsAsync<RpcException>(() => host.Client.ClassifyBatchAsync(batch, cancellationToken: Ct).ResponseAsync);

        Assert.Equal(StatusCode.InvalidArgument, error.StatusCode);
        Assert.Contains("requests[1].messages", error.Status.Detail, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Metrics_AfterCalls_DecisionsAndDurationInPrometheusText()
    {
        await host.Client.ClassifyAsync(Request(("user", "Write a bash script that prints hello.")), cancellationToken: Ct);
        await host.Client.ClassifyAsync(Request(("user", "Tell me a joke.")), cancellationToken: Ct);
        using var http = new HttpClient { BaseAddress = host.HttpUri };

        var text = await http.GetStringAsync("/metrics", Ct);

        Assert.Contains("platform_classifier_decisions_total{", text, StringComparison.Ordinal);
        Assert.Contains("kind=\"code\"", text, StringComparison.Ordinal);
        Assert.Contains("kind=\"general\"", text, StringComparison.Ordinal);
        Assert.Contains("platform_classifier_duration_seconds_bucket{", text, StringComparison.Ordinal);
        Assert.Contains("# TYPE platform_classifier_duration_seconds histogram", text, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Health_AndGrpcHealth_Serving()
    {
        using var http = new HttpClient { BaseAddress = host.HttpUri };
        using var health = await http.GetAsync("/health", Ct);
        var grpcHealth = await new global::Grpc.Health.V1.Health.HealthClient(host.Channel)
            .CheckAsync(new global::Grpc.Health.V1.HealthCheckRequest(), cancellationToken: Ct);

        Assert.Equal(System.Net.HttpStatusCode.OK, health.StatusCode);
        Assert.Equal(global::Grpc.Health.V1.HealthCheckResponse.Types.ServingStatus.Serving, grpcHealth.Status);
    }
}
