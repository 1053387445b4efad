using Platform.EngineSim.Tests.Fixtures;

namespace Platform.EngineSim.Tests.Cli;

/// <summary>The real executable: exit codes and messages of the command line, the ready line, the crash fault.</summary>
public sealed class ProcessTests
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(30);

    [Theory]
    [InlineData("--max-num-seqs 8", "argument --model:")]
    [InlineData("--model m --max-num-seqs abc", "argument --max-num-seqs: invalid int value: 'abc'")]
    [InlineData("--model m --speculative-config {oops", "argument --speculative-config: invalid JSON")]
    [InlineData("--model m --sim-nonsense", "argument --sim-nonsense:")]
    public async Task InvalidCommandLine_ExitsWith2AndOneLineNamingTheFlag(string commandLine, string message)
    {
        await using var engine = EngineSimProcess.Start(commandLine.Split(' '));

        var exitCode = await engine.WaitForExitAsync(Timeout);

        Assert.Equal(2, exitCode);
        var line = Assert.Single(engine.StandardError.Split('\n', StringSplitOptions.RemoveEmptyEntries));
        Assert.StartsWith("EngineSim: error: ", line, StringComparison.Ordinal);
        Assert.Contains(message, line, StringComparison.Ordinal);
    }

    [Fact]
    public async Task ServeWithPortZero_LogsReadyLineWithBoundAddressAndServes()
    {
        await using var engine = EngineSimProcess.Start("serve", "m", "--host", "127.0.0.1", "--port", "0", "--trust-remote-code", "--dtype", "bfloat16");
        var address = await engine.WaitReadyAsync(Timeout);
        using var http = new HttpClient { BaseAddress = address };

        using var health = await http.GetAsync("health", TestContext.Current.CancellationToken);

        Assert.Equal(200, (int)health.StatusCode);
        Assert.NotEqual(0, address.Port);
        Assert.Contains("Ignoring vLLM flags EngineSim does not model: --trust-remote-code, --dtype bfloat16", engine.StandardOutput, StringComparison.Ordinal);
    }

    [Fact]
    public async Task CrashAfterTokens_ProcessExitsWith137MidStream()
    {
        await using var engine = EngineSimProcess.Start("--model", "m", "--host", "127.0.0.1", "--port", "0", "--sim-speedup", "20", "--sim-crash-after-tokens", "8");
        var address = await engine.WaitReadyAsync(Timeout);
        using var http = new HttpClient { BaseAddress = address };

        var body = "";
        try
        {
            using var response = await Sse.PostAsync(http, "v1/completions", """{"prompt":"Tell a story","max_tokens":200,"ignore_eos":true,"stream":true}""");
            body = await response.Content.ReadAsStringAsync(TestContext.Current.CancellationToken);
        }
        catch (HttpRequestException)
        {
            // The process died under the stream.
        }

        Assert.Equal(137, await engine.WaitForExitAsync(Timeout));
        Assert.DoesNotContain("[DONE]", body, StringComparison.Ordinal);
    }
}
