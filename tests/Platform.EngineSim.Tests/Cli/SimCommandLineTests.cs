using Platform.EngineSim.Cli;
using Platform.EngineSim.Engine;

namespace Platform.EngineSim.Tests.Cli;

public sealed class SimCommandLineTests
{
    private static SimSettings Parse(string commandLine, string? envApiKey = null) =>
        SimCommandLine.Parse(commandLine.Split(' ', StringSplitOptions.RemoveEmptyEntries), name => name == "VLLM_API_KEY" ? envApiKey : null);

    private static CommandLineException Fails(string commandLine) =>
        Assert.Throws<CommandLineException>(() => Parse(commandLine));

    [Fact]
    public void Parse_VllmFlags_MapToEngineOptions()
    {
        var settings = Parse(
            "--model meta-llama/Llama-3.1-8B-Instruct --served-model-name llama-3.1-8b-instruct llama3 --host 127.0.0.1 --port 9000 "
            + "--max-num-seqs 64 --max-model-len 8192 --max-num-batched-tokens 4096 --block-size 32 --num-gpu-blocks-override 1000 "
            + "--no-enable-prefix-caching --api-key secret");

        var engine = settings.Engine;
        Assert.Equal("meta-llama/Llama-3.1-8B-Instruct", engine.Model);
        Assert.Equal(["llama-3.1-8b-instruct", "llama3"], engine.ServedModelNames);
        Assert.Equal("llama-3.1-8b-instruct", engine.PrimaryModelName);
        Assert.Equal(("127.0.0.1", 9000), (engine.Host, engine.Port));
        Assert.Equal((64, 8192, 4096, 32, 1000), (engine.MaxNumSeqs, engine.MaxModelLen, engine.MaxNumBatchedTokens, engine.BlockSize, engine.NumGpuBlocks));
        Assert.False(engine.EnablePrefixCaching);
        Assert.Equal("secret", engine.ApiKey);
        Assert.Null(engine.Speculative);
        Assert.True(settings.ListenAddressExplicit);
    }

    [Fact]
    public void Parse_ServePositionalAndEqualsForm_Accepted()
    {
        var settings = Parse("serve my-model --port=8123 --max-model-len=32K --enable-prefix-caching");

        Assert.Equal("my-model", settings.Engine.Model);
        Assert.Equal(["my-model"], settings.Engine.ServedModelNames);
        Assert.Equal(8123, settings.Engine.Port);
        Assert.Equal(32768, settings.Engine.MaxModelLen);
        Assert.True(settings.Engine.EnablePrefixCaching);
    }

    [Fact]
    public void Parse_Defaults_FollowVllm()
    {
        var settings = Parse("--model m");

        Assert.Equal(("0.0.0.0", 8000), (settings.Engine.Host, settings.Engine.Port));
        Assert.True(settings.Engine.EnablePrefixCaching);
        Assert.Equal(16, settings.Engine.BlockSize);
        Assert.Null(settings.Engine.ApiKey);
        Assert.False(settings.ListenAddressExplicit);
        Assert.Equal(new Platform.EngineSim.Faults.FaultSettings(), settings.Faults);
    }

    [Fact]
    public void Parse_ApiKeyFromEnvironment_UsedWhenFlagAbsent()
    {
        Assert.Equal("from-env", Parse("--model m", envApiKey: "from-env").Engine.ApiKey);
        Assert.Equal("from-flag", Parse("--model m --api-key from-flag", envApiKey: "from-env").Engine.ApiKey);
    }

    [Fact]
    public void Parse_SpeculativeConfig_ParsedAsVllmDoes()
    {
        var settings = SimCommandLine.Parse(
            ["--model", "m", "--speculative-config", """{"method": "draft_model", "model": "Qwen2.5-Coder-0.5B", "num_speculative_tokens": 5, "draft_tensor_parallel_size": 1}"""],
            static _ => null);

        var spec = Assert.IsType<SpeculativeConfig>(settings.Engine.Speculative);
        Assert.Equal(("draft_model", "Qwen2.5-Coder-0.5B", 5), (spec.Method, spec.Model, spec.NumSpeculativeTokens));
        Assert.Equal(PromptKind.Code, spec.DraftKind);
    }

    [Theory]
    [InlineData("""{"model": "llama-3.2-1b", "num_speculative_tokens": 4}""", "draft_model", "general")]
    [InlineData("""{"method": "ngram", "num_speculative_tokens": 3, "prompt_lookup_max": 4}""", "ngram", "general")]
    [InlineData("""{"model": "yuhuili/EAGLE-LLaMA3.1-Instruct-8B", "num_speculative_tokens": 2}""", "eagle", "general")]
    [InlineData("""{"model": "deepseek-coder-1.3b", "num_speculative_tokens": 2}""", "draft_model", "code")]
    public void Parse_SpeculativeConfig_InfersMethodAndDraftKind(string json, string method, string kind)
    {
        var spec = SimCommandLine.Parse(["--model", "m", "--speculative-config", json], static _ => null).Engine.Speculative!;

        Assert.Equal(method, spec.Method);
        Assert.Equal(kind, spec.DraftKind.ToString().ToLowerInvariant());
    }

    [Fact]
    public void Parse_SimOptions_SetLatencyAcceptanceAndFaults()
    {
        var settings = SimCommandLine.Parse(
        [
            "--model", "m", "--speculative-config", """{"model":"tiny","num_speculative_tokens":3}""", "--sim-draft-kind", "code",
            "--sim-acceptance-match", "0.9", "--sim-acceptance-mismatch", "0.3", "--sim-seed", "7", "--sim-speedup", "10",
            "--sim-decode-base-ms", "5", "--sim-decode-per-seq-ms", "0.1", "--sim-prefill-per-token-ms", "0.02",
            "--sim-spec-per-draft-token-ms", "0.01", "--sim-engine-label", "3", "--sim-error-rate", "0.25", "--sim-error-status", "503",
            "--sim-latency-spike-ms", "200", "--sim-latency-spike-rate", "0.1", "--sim-slowdown", "2", "--sim-hang",
            "--sim-crash-after-tokens", "50", "--sim-kv-drift", "1.5", "--sim-lie-health=true",
        ], static _ => null);

        var engine = settings.Engine;
        Assert.Equal((PromptKind.Code, 0.9, 0.3), (engine.Speculative!.DraftKind, engine.Speculative.AcceptanceMatched, engine.Speculative.AcceptanceMismatched));
        Assert.Equal((7L, "3"), (engine.SimSeed, engine.EngineLabel));
        Assert.Equal(new LatencyModel { DecodeBaseMs = 5, DecodePerSeqMs = 0.1, PrefillPerTokenMs = 0.02, SpecPerDraftTokenMs = 0.01, Speedup = 10 }, engine.Latency);
        Assert.Equal(
            new Platform.EngineSim.Faults.FaultSettings
            {
                ErrorRate = 0.25, ErrorStatus = 503, LatencySpikeMs = 200, LatencySpikeRate = 0.1, Slowdown = 2, Hang = true,
                CrashAfterTokens = 50, KvDrift = 1.5, LieHealth = true,
            },
            settings.Faults);
    }

    [Fact]
    public void Parse_UnmodelledVllmFlags_AcceptedAndListedAsIgnored()
    {
        var settings = Parse(
            "--model m --tensor-parallel-size 2 --trust-remote-code --gpu-memory-utilization 0.9 --enforce-eager --dtype bfloat16 "
            + "--disable-log-requests --seed 0 --max-logprobs 5 -tp 2 --no-enable-chunked-prefill --some-future-flag value --port 8001");

        Assert.Equal(8001, settings.Engine.Port);
        Assert.Equal(
            ["--tensor-parallel-size 2", "--trust-remote-code", "--gpu-memory-utilization 0.9", "--enforce-eager", "--dtype bfloat16",
             "--disable-log-requests", "--seed 0", "--max-logprobs 5", "-tp 2", "--no-enable-chunked-prefill", "--some-future-flag value"],
            settings.IgnoredFlags);
    }

    [Fact]
    public void Parse_BooleanVllmFlagBeforePositional_DoesNotSwallowIt()
    {
        var settings = Parse("serve --enforce-eager my-model");

        Assert.Equal("my-model", settings.Engine.Model);
    }

    [Theory]
    [InlineData("--max-num-seqs 64", "--model")]
    [InlineData("--model m --max-num-seqs abc", "--max-num-seqs")]
    [InlineData("--model m --max-num-seqs 0", "--max-num-seqs")]
    [InlineData("--model m --port 70000", "--port")]
    [InlineData("--model m --port", "--port")]
    [InlineData("--model m --block-size 20", "--block-size")]
    [InlineData("--model m --max-model-len 4096 --num-gpu-blocks-override 10", "--num-gpu-blocks-override")]
    [InlineData("--model m --max-num-seqs 512 --max-num-batched-tokens 256", "--max-num-batched-tokens")]
    [InlineData("--model m --sim-speedup 0", "--sim-speedup")]
    [InlineData("--model m --sim-acceptance-match 1.5", "--sim-acceptance-match")]
    [InlineData("--model m --sim-draft-kind poetry", "--sim-draft-kind")]
    [InlineData("--model m --sim-error-rate 2", "--sim-error-rate")]
    [InlineData("--model m --sim-error-status 200", "--sim-error-status")]
    [InlineData("--model m --sim-slowdown 0.5", "--sim-slowdown")]
    [InlineData("--model m --sim-crash-after-tokens 0", "--sim-crash-after-tokens")]
    [InlineData("--model m --sim-kv-drift -1", "--sim-kv-drift")]
    [InlineData("--model m --sim-bogus 1", "--sim-bogus")]
    [InlineData("--model m --enforce-eager=yes", "--enforce-eager")]
    [InlineData("--model m --speculative-config {not-json", "--speculative-config")]
    [InlineData("--model a --served-model-name", "--served-model-name")]
    public void Parse_InvalidValue_FailsNamingTheFlag(string commandLine, string flag)
    {
        var error = Fails(commandLine);

        Assert.Equal(flag, error.Flag);
        Assert.Contains(flag, error.Message, StringComparison.Ordinal);
        Assert.DoesNotContain('\n', error.Message);
        Assert.Equal(2, CommandLineException.ExitCode);
    }

    [Theory]
    [InlineData("""{"method": "draft_model", "num_speculative_tokens": 3}""", "needs a draft")]
    [InlineData("""{"model": "d", "num_speculative_tokens": 17}""", "[1, 16]")]
    [InlineData("""{"model": "d"}""", "num_speculative_tokens")]
    [InlineData("""{"method": "telepathy", "model": "d", "num_speculative_tokens": 2}""", "unsupported method")]
    [InlineData("""[1, 2]""", "JSON object")]
    public void Parse_BadSpeculativeConfig_FailsWithReason(string json, string reason)
    {
        var error = Assert.Throws<CommandLineException>(() => SimCommandLine.Parse(["--model", "m", "--speculative-config", json], static _ => null));

        Assert.Equal("--speculative-config", error.Flag);
        Assert.Contains(reason, error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Parse_PositionalAndModelFlagDisagree_Fails()
    {
        Assert.Equal("--model", Fails("serve a --model b").Flag);
        Assert.Equal("", Fails("serve a b").Flag);
    }
}
