using System.Globalization;
using System.Text;
using System.Text.Json;
using Platform.AppHost.Hosting;
using Platform.AppHost.Options;

namespace Platform.AppHost.Launch;

/// <summary>
/// How an engine replica is started. Every engine gets vLLM's own arguments (the port on the command line, as
/// <c>vllm serve</c> takes it); EngineSim also gets its <c>--sim-*</c> arguments (a seed and an engine label
/// distinct per replica, the speed-up). Three ways to run one:
/// <list type="bullet">
/// <item>sim: <c>dotnet Platform.EngineSim.dll --model M --served-model-name M --host 127.0.0.1 --port N ... --sim-*</c>;</item>
/// <item>vllm executable: <c>vllm serve WEIGHTS --served-model-name M --host 127.0.0.1 --port N ...</c>;</item>
/// <item>vllm image: <c>docker run --rm --gpus all --ipc=host -p 127.0.0.1:N:8000 IMAGE --model WEIGHTS --served-model-name M --port 8000 ...</c>.</item>
/// </list>
/// </summary>
internal static class EngineCommandLine
{
    /// <summary>The port vLLM listens on inside its container.</summary>
    public const int ContainerPort = 8000;

    public static ProcessSpec Build(
        ReplicaPlan replica, Topology topology, AppHostOptions options, string dotnetHost, string engineSimAssembly)
    {
        var pool = (EnginePoolResource)replica.Resource;
        var port = replica.Endpoint(EnginePoolResource.EndpointName)!.Port;
        var env = EnvironmentContract.For(replica, topology, options);

        if (options.Engines == "sim")
        {
            List<string> args = [engineSimAssembly, "--model", pool.Model];
            AddServingArguments(args, pool, Topology.Host, port, draftModel: pool.Draft?.Model);
            args.AddRange(
            [
                "--sim-seed", (options.Seed + replica.Ordinal).ToString(CultureInfo.InvariantCulture),
                "--sim-engine-label", replica.Id,
            ]);
            if (pool.Draft is { } simDraft)
            {
                // The catalog says what the draft was tuned on; EngineSim would otherwise guess from its name.
                args.AddRange(["--sim-draft-kind", simDraft.Kind == DraftKind.Code ? "code" : "general"]);
            }

            if (options.EngineSpeedup != 1.0)
            {
                args.AddRange(["--sim-speedup", options.EngineSpeedup.ToString("R", CultureInfo.InvariantCulture)]);
            }

            args.AddRange(pool.Arguments);
            return new ProcessSpec(dotnetHost, args, env);
        }

        var vllm = options.Vllm;
        var weights = Weights(vllm, pool.Model);
        var draftWeights = pool.Draft is { } draft ? Weights(vllm, draft.Model) : null;
        if (string.IsNullOrWhiteSpace(vllm.Image))
        {
            List<string> args = ["serve", weights];
            AddServingArguments(args, pool, Topology.Host, port, draftWeights);
            args.AddRange(vllm.ExtraArgs);
            args.AddRange(pool.Arguments);
            return new ProcessSpec(vllm.Executable, args, env);
        }

        // The container publishes vLLM's port on loopback only; --rm and the CLI's signal proxy make SIGTERM
        // to "docker run" stop and remove the container.
        List<string> docker = ["run", "--rm", "--name", "platform-" + replica.Id, "--gpus", vllm.Gpus, "--ipc=host",
            "-p", $"{Topology.Host}:{port}:{ContainerPort}", "--env", "HF_TOKEN"];
        foreach (var (key, value) in env)
        {
            docker.AddRange(["--env", $"{key}={value}"]);
        }

        if (!string.IsNullOrWhiteSpace(vllm.HuggingFaceCache))
        {
            docker.AddRange(["-v", $"{vllm.HuggingFaceCache}:/root/.cache/huggingface"]);
        }

        docker.AddRange([vllm.Image, "--model", weights]);
        AddServingArguments(docker, pool, "0.0.0.0", ContainerPort, draftWeights);
        docker.AddRange(vllm.ExtraArgs);
        docker.AddRange(pool.Arguments);
        return new ProcessSpec(vllm.Docker, docker, env);
    }

    /// <summary>vLLM's <c>--speculative-config</c> JSON for a draft model.</summary>
    public static string SpeculativeConfigJson(string draftModel, int numSpeculativeTokens)
    {
        using var buffer = new MemoryStream();
        using (var writer = new Utf8JsonWriter(buffer))
        {
            writer.WriteStartObject();
            writer.WriteString("method", "draft_model");
            writer.WriteString("model", draftModel);
            writer.WriteNumber("num_speculative_tokens", numSpeculativeTokens);
            writer.WriteEndObject();
        }

        return Encoding.UTF8.GetString(buffer.ToArray());
    }

    private static void AddServingArguments(List<string> args, EnginePoolResource pool, string host, int port, string? draftModel)
    {
        args.AddRange(
        [
            "--served-model-name", pool.Model,
            "--host", host,
            "--port", port.ToString(CultureInfo.InvariantCulture),
            "--max-model-len", pool.MaxModelLen.ToString(CultureInfo.InvariantCulture),
        ]);
        if (pool.NumGpuBlocks is { } blocks)
        {
            args.AddRange(["--num-gpu-blocks-override", blocks.ToString(CultureInfo.InvariantCulture)]);
        }

        if (pool.Draft is { } draft)
        {
            args.AddRange(["--speculative-config", SpeculativeConfigJson(draftModel ?? draft.Model, draft.NumSpeculativeTokens)]);
        }
    }

    private static string Weights(VllmOptions vllm, string model) =>
        vllm.Models.TryGetValue(model, out var weights) && !string.IsNullOrWhiteSpace(weights) ? weights : model;
}
