using Platform.AppHost.Hosting;
using Platform.AppHost.Orchestration;
using Platform.AppHost.Tests.Support;

namespace Platform.AppHost.Tests.Orchestration;

public sealed class ReadyLineTests
{
    [Fact]
    public void FormatReadyLine_GatewayWithKey_ShowsBothEndpointsThenTheKey()
    {
        var builder = TestTopology.Builder();
        builder.AddRedis("redis");
        builder.AddExecutable("gateway", "true")
            .WithHttpEndpoint().WithGrpcEndpoint()
            .WithReadyLineValue("apikey", "sk-dev-abc");

        var line = Orchestrator.FormatReadyLine(TestTopology.Plan(builder, firstPort: 20000, controlPort: 19999), TimeSpan.FromSeconds(1.2));

        Assert.Equal(
            "Platform ready in 1.2 s: control=http://127.0.0.1:19999 redis=tcp://127.0.0.1:20000 gateway=http://127.0.0.1:20001,http://127.0.0.1:20002 apikey=sk-dev-abc",
            line);
    }

    [Theory]
    [InlineData("Api-Key", "x")]
    [InlineData("apikey", "a b")]
    [InlineData("apikey", "a,b")]
    public void WithReadyLineValue_TokenThatWouldBreakTheLine_Throws(string name, string value)
    {
        var builder = TestTopology.Builder();
        var gateway = builder.AddExecutable("gateway", "true");

        Assert.Throws<ArgumentException>(() => gateway.WithReadyLineValue(name, value));
    }
}
