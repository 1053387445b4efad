using Platform.FaultSuite.Drills;
using Platform.FaultSuite.Tests.Support;

namespace Platform.FaultSuite.Tests.Faults;

/// <summary>
/// Fault 8, CI size: 500 concurrent streams through the gateway for 10 s, no error. The bench subcommand
/// <c>gateway-soak</c> runs 2,000 streams for 60 s.
/// </summary>
[Collection(TopologyCollection.Name)]
public sealed class GatewaySoakTests(TopologyFixture fixture)
{
    [Fact]
    public async Task FiveHundredConcurrentStreams_TenSeconds_NoError()
    {
        var ct = TestContext.Current.CancellationToken;
        var output = TestContext.Current.TestOutputHelper!;
        var platform = fixture.Platform;
        await fixture.WaitServingAsync(ct);
        var pid = (await platform.ReplicaAsync("gateway-0", ct)).GetProperty("pid").GetInt32();

        var result = await GatewaySoak.RunAsync(platform.Gateway, platform.ApiKey, pid, streams: 500, TimeSpan.FromSeconds(10), maxTokens: 64, ct);
        output.WriteLine(result.Summary());

        Assert.Equal(0, result.Errors);
        Assert.Equal(500, result.PeakOpenStreams);
        Assert.True(result.Completed >= 500, $"only {result.Completed} streams completed");
    }
}
