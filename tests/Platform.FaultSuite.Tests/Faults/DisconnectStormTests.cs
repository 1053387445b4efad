using Platform.FaultSuite.Drills;
using Platform.FaultSuite.Tests.Support;

namespace Platform.FaultSuite.Tests.Faults;

/// <summary>
/// Fault 7: a storm of client disconnects, half while waiting for the first token, half mid-stream. The engines must let
/// go of every request at once (target: back to baseline within a second). CI runs 200 clients; the bench subcommand
/// <c>fault-disconnect-storm</c> runs the full 1,000.
/// </summary>
[Collection(TopologyCollection.Name)]
public sealed class DisconnectStormTests(TopologyFixture fixture)
{
    /// <summary>Target 1 s; the bound is generous for a loaded 2-core CI machine, the measured figure is printed.</summary>
    private static readonly TimeSpan Bound = TimeSpan.FromSeconds(5);

    [Fact]
    public async Task ClientsGoAwayAtOnce_WaitingAndMidStream_EnginesBackToBaselineFast()
    {
        var ct = TestContext.Current.CancellationToken;
        var output = TestContext.Current.TestOutputHelper!;
        await fixture.Platform.WaitAllHealthyAsync(TimeSpan.FromSeconds(60), ct);

        var (_, waiting, midStream) = await DisconnectStorm.RunAsync(fixture.Platform, streams: 200, output.WriteLine, ct);

        foreach (var wave in new[] { waiting, midStream })
        {
            Assert.Equal(wave.Streams, wave.ClientCancelled);
            Assert.True(wave.TimeToBaselineMs < Bound.TotalMilliseconds, $"{wave.Name}: back to baseline after {wave.TimeToBaselineMs:0} ms");
        }

        // The requests of the first wave really waited at the engines (hung), those of the second were running.
        Assert.True(waiting.PeakRunning + waiting.PeakWaiting >= waiting.Streams);
        Assert.True(midStream.PeakRunning >= midStream.Streams);
    }
}
