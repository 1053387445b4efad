using Platform.AppHost.Hosting;
using Platform.AppHost.Launch;
using Platform.AppHost.Tests.Support;

namespace Platform.AppHost.Tests.Launch;

public sealed class EngineCommandLineTests
{
    private const string EngineSim = "/repo/services/EngineSim/bin/Release/net10.0/Platform.EngineSim.dll";

    private static readonly Topology Platform = TestTopology.Plan(TestTopology.Platform(), firstPort: 20000);

    [Fact]
    public void Build_SimEngineWithDraft_PassesVllmArgumentsAndDistinctSimIdentity()
    {
        var options = TestTopology.Options(o => o.EngineSpeedup = 20);

        var spec = EngineCommandLine.Build(Platform.FindReplica("enginegeneral-1")!, Platform, options, "/usr/bin/dotnet", EngineSim);

        Assert.Equal("/usr/bin/dotnet", spec.FileName);
        Assert.Equal(
            [
                EngineSim,
                "--model", "llama-3.1-8b-instruct",
                "--served-model-name", "llama-3.1-8b-instruct",
                "--host", "127.0.0.1",
                "--port", "20003",
                "--max-model-len", "32768",
                "--speculative-config", """{"method":"draft_model","model":"llama-3.2-1b-instruct","num_speculative_tokens":4}""",
                "--sim-seed", "45",
                "--sim-engine-label", "enginegeneral-1",
                "--sim-draft-kind", "general",
                "--sim-speedup", "20",
            ],
            spec.Arguments);
        Assert.Equal("enginegeneral", spec.Environment["OTEL_SERVICE_NAME"]);
    }

    [Fact]
    public void Build_SimEnginesOfOneTopology_HaveDistinctSeedsAndLabels()
    {
        var specs = Platform.Replicas.Where(r => r.Resource is EnginePoolResource)
            .Select(r => EngineCommandLine.Build(r, Platform, TestTopology.Options(), "dotnet", EngineSim))
            .ToList();

        static string After(ProcessSpec spec, string flag) => spec.Arguments[spec.Arguments.ToList().IndexOf(flag) + 1];
        Assert.Equal(4, specs.Select(s => After(s, "--sim-seed")).Distinct().Count());
        Assert.Equal(["enginefallback-0", "enginegeneral-0", "enginegeneral-1", "enginecode-0"], specs.Select(s => After(s, "--sim-engine-label")));
        Assert.DoesNotContain("--sim-speedup", specs[0].Arguments);
    }

    [Fact]
    public void Build_FallbackPoolWithoutDraft_HasNoSpeculativeConfig()
    {
        var spec = EngineCommandLine.Build(Platform.FindReplica("enginefallback-0")!, Platform, TestTopology.Options(), "dotnet", EngineSim);

        Assert.DoesNotContain("--speculative-config", spec.Arguments);
        Assert.DoesNotContain("--sim-draft-kind", spec.Arguments);
        Assert.Contains("4096", spec.Arguments);
    }

    [Fact]
    public void Build_VllmExecutable_RunsVllmServeWithMappedWeights()
    {
        var options = TestTopology.Options(o =>
        {
            o.Engines = "vllm";
            o.Vllm.Executable = "/opt/vllm/bin/vllm";
            o.Vllm.Models["llama-3.1-8b-instruct"] = "meta-llama/Llama-3.1-8B-Instruct";
            o.Vllm.Models["llama-3.2-1b-code"] = "/models/llama-3.2-1b-code";
            o.Vllm.ExtraArgs.AddRange(["--gpu-memory-utilization", "0.90"]);
        });

        var spec = EngineCommandLine.Build(Platform.FindReplica("enginecode-0")!, Platform, options, "dotnet", EngineSim);

        Assert.Equal("/opt/vllm/bin/vllm", spec.FileName);
        Assert.Equal(
            [
                "serve", "meta-llama/Llama-3.1-8B-Instruct",
                "--served-model-name", "llama-3.1-8b-instruct",
                "--host", "127.0.0.1",
                "--port", "20004",
                "--max-model-len", "32768",
                "--speculative-config", """{"method":"draft_model","model":"/models/llama-3.2-1b-code","num_speculative_tokens":5}""",
                "--gpu-memory-utilization", "0.90",
            ],
            spec.Arguments);
        Assert.DoesNotContain(spec.Arguments, a => a.StartsWith("--sim-", StringComparison.Ordinal));
    }

    [Fact]
    public void Build_VllmImage_RunsDockerWithGpusAndLoopbackPort()
    {
        var options = TestTopology.Options(o =>
        {
            o.Engines = "vllm";
            o.Vllm.Image = "vllm/vllm-openai:v0.11.0";
            o.Vllm.HuggingFaceCache = "/var/cache/hf";
            o.Vllm.Models["phi-3-mini-4k-instruct"] = "microsoft/Phi-3-mini-4k-instruct";
        });

        var spec = EngineCommandLine.Build(Platform.FindReplica("enginefallback-0")!, Platform, options, "dotnet", EngineSim);

        Assert.Equal("docker", spec.FileName);
        var args = spec.Arguments.ToList();
        Assert.Equal(["run", "--rm", "--name", "platform-enginefallback-0", "--gpus", "all", "--ipc=host", "-p", "127.0.0.1:20001:8000", "--env", "HF_TOKEN"], args[..11]);
        Assert.Contains("OTEL_SERVICE_NAME=enginefallback", args);
        Assert.Equal(["-v", "/var/cache/hf:/root/.cache/huggingface"], args.Skip(args.IndexOf("-v")).Take(2));
        var image = args.IndexOf("vllm/vllm-openai:v0.11.0");
        Assert.Equal(
            ["vllm/vllm-openai:v0.11.0", "--model", "microsoft/Phi-3-mini-4k-instruct", "--served-model-name", "phi-3-mini-4k-instruct",
             "--host", "0.0.0.0", "--port", "8000", "--max-model-len", "4096"],
            args[image..]);
    }

    [Fact]
    public void SpeculativeConfigJson_DraftModel_IsVllmsShape()
    {
        Assert.Equal(
            """{"method":"draft_model","model":"llama-3.2-1b-instruct","num_speculative_tokens":4}""",
            EngineCommandLine.SpeculativeConfigJson("llama-3.2-1b-instruct", 4));
    }

    [Fact]
    public void DisplayCommandLine_JsonArgument_IsQuotedForAShell()
    {
        var spec = EngineCommandLine.Build(Platform.FindReplica("enginegeneral-0")!, Platform, TestTopology.Options(), "dotnet", EngineSim);

        Assert.Contains("""--speculative-config '{"method":"draft_model","model":"llama-3.2-1b-instruct","num_speculative_tokens":4}'""", spec.DisplayCommandLine, StringComparison.Ordinal);
    }
}
