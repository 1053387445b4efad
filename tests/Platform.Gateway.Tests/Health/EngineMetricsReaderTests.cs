using System.Text;
using Platform.Fleet.State;
using Platform.Gateway.Health;

namespace Platform.Gateway.Tests.Health;

public sealed class EngineMetricsReaderTests
{
    private static EngineMetrics Read(string text) => EngineMetricsReader.Read(Encoding.UTF8.GetBytes(text));

    [Fact]
    public void Read_EngineLabels_AreSummedAndKvIsTheHighest()
    {
        var m = Read("""
            # HELP vllm:num_requests_running Number of requests in model execution batches.
            # TYPE vllm:num_requests_running gauge
            vllm:num_requests_running{engine="0",model_name="llama"} 3.0
            vllm:num_requests_running{engine="1",model_name="llama"} 4.0
            vllm:num_requests_waiting{engine="0",model_name="llama"} 1.0
            vllm:num_requests_waiting{engine="1",model_name="llama"} 2.0
            vllm:kv_cache_usage_perc{engine="0",model_name="llama"} 0.25
            vllm:kv_cache_usage_perc{engine="1",model_name="llama"} 0.5

            """);

        Assert.Equal(7, m.Running);
        Assert.Equal(3, m.Waiting);
        Assert.Equal(0.5, m.KvCacheUsage);
    }

    [Fact]
    public void Read_CreatedAndOtherSeries_AreIgnored()
    {
        var m = Read("""
            vllm:num_requests_running_created{engine="0"} 1.7e9
            vllm:num_requests_waiting_total{engine="0"} 99
            vllm:num_requests_waiting{engine="0"} 2 1700000000000
            vllm:num_preemptions_total{engine="0"} 5
            vllm:num_preemptions_created{engine="0"} 1.7e9
            """);

        Assert.False(m.HasRunning);
        Assert.Equal(0, m.Running);
        Assert.Equal(2, m.Waiting);
        Assert.True(double.IsNaN(m.KvCacheUsage));
    }

    [Fact]
    public void Read_NaNAndGarbageLines_AreSkipped()
    {
        var m = Read("vllm:num_requests_running{engine=\"0\"} NaN\r\n"
            + "vllm:num_requests_running{engine=\"1\"} 2\r\n"
            + "garbage line without value\n"
            + "vllm:num_requests_waiting{engine=\"0\" 5\n"
            + "vllm:num_requests_waiting{note=\"a } b \\\" c\"} 4\n"
            + "vllm:num_requests_waiting{engine=\"1\"} abc\n"
            + "{} 3\n"
            + "vllm:kv_cache_usage_perc 0.9");

        Assert.Equal(2, m.Running);
        Assert.Equal(4, m.Waiting);
        Assert.Equal(0.9, m.KvCacheUsage);
    }

    [Fact]
    public void Read_OlderEngine_UsesGpuCacheUsage()
    {
        var m = Read("vllm:gpu_cache_usage_perc{model_name=\"x\"} 0.7\n");

        Assert.Equal(0.7, m.KvCacheUsage);
    }

    [Fact]
    public void Read_BothKvNames_PrefersV1()
    {
        var m = Read("vllm:gpu_cache_usage_perc 0.7\nvllm:kv_cache_usage_perc 0.2\n");

        Assert.Equal(0.2, m.KvCacheUsage);
    }

    [Fact]
    public void TryParseLine_Infinity_Parses()
    {
        Assert.True(EngineMetricsReader.TryParseLine("x{le=\"+Inf\"} +Inf"u8, out var name, out var value));
        Assert.Equal("x", Encoding.UTF8.GetString(name));
        Assert.Equal(double.PositiveInfinity, value);
    }
}

public sealed class PressureHysteresisTests
{
    [Theory]
    [InlineData(PressureState.Normal, 0.85, PressureState.Normal)]
    [InlineData(PressureState.Normal, 0.89, PressureState.UnderPressure)]
    [InlineData(PressureState.UnderPressure, 0.85, PressureState.UnderPressure)]
    [InlineData(PressureState.UnderPressure, 0.80, PressureState.UnderPressure)]
    [InlineData(PressureState.UnderPressure, 0.78, PressureState.Normal)]
    [InlineData(PressureState.UnderPressure, double.NaN, PressureState.UnderPressure)]
    public void Next_Thresholds_ApplyHysteresis(PressureState current, double kv, PressureState expected) =>
        Assert.Equal(expected, PressureHysteresis.Next(current, kv, 0.88, 0.79));

    [Fact]
    public void Score_IdleEngine_Is100_AndFallsWithQueueAndCache()
    {
        Assert.Equal(100, PressureHysteresis.Score(0, 0));
        Assert.True(PressureHysteresis.Score(0.5, 0) > PressureHysteresis.Score(0.5, 3));
        Assert.True(PressureHysteresis.Score(0.2, 0) > PressureHysteresis.Score(0.9, 0));
    }
}
