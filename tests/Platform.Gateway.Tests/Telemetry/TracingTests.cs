using System.Collections.Concurrent;
using System.Diagnostics;
using System.Text;
using System.Text.Json;
using Platform.Gateway.Tests.Fixtures.Stack;

namespace Platform.Gateway.Tests.Telemetry;

public sealed class TracingTests
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task ChatRequest_OneGenAiSpanUnderTheServerSpan()
    {
        var stopped = new ConcurrentQueue<Activity>();
        using var listener = new ActivityListener
        {
            ShouldListenTo = source => source.Name is "Platform.Gateway" or "Microsoft.AspNetCore",
            Sample = (ref ActivityCreationOptions<ActivityContext> _) => ActivitySamplingResult.AllDataAndRecorded,
            ActivityStopped = stopped.Enqueue,
        };
        ActivitySource.AddActivityListener(listener);
        var (host, _, _) = await GatewayHost.StartScriptedAsync();
        await using var _h = host;
        using var http = host.CreateHttpClient();

        using var response = await http.PostAsync("/v1/chat/completions", new StringContent($$"""{"model":"{{GatewayHost.Model}}","messages":[{"role":"user","content":"hi"}]}""", Encoding.UTF8, "application/json"), Ct);
        var id = JsonDocument.Parse(await response.Content.ReadAsStringAsync(Ct)).RootElement.GetProperty("id").GetString();

        // Spans stop as the request's work ends, which can be just after the client has read the whole body.
        var span = await StoppedAsync(stopped, a => a.Source.Name == "Platform.Gateway" && (string?)a.GetTagItem("gen_ai.response.id") == id);
        Assert.Equal($"chat {GatewayHost.Model}", span.DisplayName);
        Assert.Equal("chat", span.GetTagItem("gen_ai.operation.name"));
        Assert.Equal("vllm", span.GetTagItem("gen_ai.provider.name"));
        Assert.Equal(GatewayHost.Model, span.GetTagItem("gen_ai.request.model"));
        Assert.Equal(GatewayHost.Model, span.GetTagItem("gen_ai.response.model"));
        Assert.Equal(5, span.GetTagItem("gen_ai.usage.input_tokens"));
        Assert.Equal(2, span.GetTagItem("gen_ai.usage.output_tokens"));
        Assert.Equal("enginegeneral", span.GetTagItem("platform.pool"));
        var server = await StoppedAsync(stopped, a => a.SpanId == span.ParentSpanId);
        Assert.Equal(ActivityKind.Server, server.Kind);
        Assert.Equal(server.TraceId, span.TraceId);
    }

    /// <summary>The one stopped activity matching <paramref name="match"/>, waiting up to 10 s for it to stop.</summary>
    private static async Task<Activity> StoppedAsync(ConcurrentQueue<Activity> stopped, Func<Activity, bool> match)
    {
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(Ct);
        timeout.CancelAfter(TimeSpan.FromSeconds(10));
        while (!stopped.Any(match))
        {
            await Task.Delay(10, timeout.Token);
        }

        return Assert.Single(stopped, a => match(a));
    }
}
