namespace Platform.AppHost.Hosting;

/// <summary>
/// One declared resource: a name every orchestrator spells the same (lowercase letters and digits), its
/// endpoints, the resources it references (they shape its environment) and those it waits for (they must be
/// healthy before it starts). Each resource runs as <see cref="Replicas"/> processes with ids <c>{name}-{index}</c>.
/// </summary>
internal abstract class Resource(string name)
{
    public string Name { get; } = name;

    /// <summary>Processes to run; each gets its own port per endpoint.</summary>
    public int Replicas { get; set; } = 1;

    public List<EndpointDeclaration> Endpoints { get; } = [];

    public List<Resource> References { get; } = [];

    public List<Resource> WaitsFor { get; } = [];

    /// <summary>Extra environment variables, applied last (they override the contract's).</summary>
    public Dictionary<string, string> Environment { get; } = new(StringComparer.Ordinal);

    /// <summary>Extra command-line arguments, appended last.</summary>
    public List<string> Arguments { get; } = [];

    /// <summary>Extra name=value tokens the ready line shows after the resource's URLs (e.g. the development API key).</summary>
    public List<KeyValuePair<string, string>> ReadyLineValues { get; } = [];

    /// <summary>Short kind shown by the control API: redis, engine, project, executable.</summary>
    public abstract string Kind { get; }

    public EndpointDeclaration? FindEndpoint(string endpointName) =>
        Endpoints.Find(e => string.Equals(e.Name, endpointName, StringComparison.Ordinal));

    public string ReplicaId(int index) => $"{Name}-{index}";
}

/// <summary>
/// A named endpoint: <c>http</c> (HTTP/1.1), <c>grpc</c> (h2c) or <c>tcp</c> (Redis). <see cref="Port"/> is the
/// first replica's port when fixed ports are in use (the next replicas take the next ports); null means the
/// AppHost assigns one.
/// </summary>
internal sealed record EndpointDeclaration(string Name, string Scheme, int? Port);

/// <summary>Redis (redis-server from PATH, else the garnet-server .NET tool); endpoint <c>tcp</c>.</summary>
internal sealed class RedisResource(string name) : Resource(name)
{
    public const string EndpointName = "tcp";

    public override string Kind => "redis";
}

/// <summary>A .NET project started as <c>dotnet {TargetPath}</c>, configured through the Aspire environment contract.</summary>
internal sealed class ProjectResource(string name, string assemblyPath) : Resource(name)
{
    /// <summary>The built assembly to run.</summary>
    public string AssemblyPath { get; } = assemblyPath;

    /// <summary>Inject the engine catalog (<c>Fleet__...</c>) and references to every engine pool.</summary>
    public bool InjectFleet { get; set; }

    /// <summary>Inject the control API's URL (<c>AppHost__ControlUrl</c>): the project restarts replicas through it.</summary>
    public bool InjectControlApi { get; set; }

    public override string Kind => "project";
}

/// <summary>
/// Any executable. Healthy while it runs, or when <see cref="HealthPath"/> answers 200 on its <c>http</c> endpoint.
/// Its ports reach it through <c>{PORT}</c> placeholders in its arguments and the <c>PORT</c> variable.
/// </summary>
internal sealed class ExecutableResource(string name, string command) : Resource(name)
{
    public string Command { get; } = command;

    public string? WorkingDirectory { get; set; }

    public string? HealthPath { get; set; }

    public override string Kind => "executable";
}

/// <summary>What kind of prompts a pool is preferred for.</summary>
internal enum TaskAffinity
{
    None,
    General,
    Code,
}

/// <summary>What a draft model was tuned on (it decides how many drafted tokens the target accepts).</summary>
internal enum DraftKind
{
    General,
    Code,
}

/// <summary>
/// vLLM's speculative decoding with a draft model:
/// <c>--speculative-config '{"method": "draft_model", "model": ..., "num_speculative_tokens": N}'</c>.
/// </summary>
internal sealed record DraftModel(string Model, DraftKind Kind, int NumSpeculativeTokens);

/// <summary>
/// A pool of engines (vLLM or EngineSim) serving one model with one speculative-decoding profile: an entry of
/// the engine catalog. Each replica is one OpenAI-compatible server with endpoint <c>http</c>; engine id
/// <c>{pool}-{index}</c>.
/// </summary>
internal sealed class EnginePoolResource(string name, string model) : Resource(name)
{
    public const string EndpointName = "http";

    /// <summary>The model clients send (<c>--served-model-name</c>).</summary>
    public string Model { get; } = model;

    /// <summary>The model requests go to when no engine of this model can take them; null for none.</summary>
    public string? FallbackModel { get; set; }

    public TaskAffinity TaskAffinity { get; set; } = TaskAffinity.None;

    public DraftModel? Draft { get; set; }

    /// <summary><c>--max-model-len</c>: prompt plus completion tokens.</summary>
    public int MaxModelLen { get; set; } = 32_768;

    /// <summary><c>--num-gpu-blocks-override</c>; null leaves the engine's own figure.</summary>
    public int? NumGpuBlocks { get; set; }

    public override string Kind => "engine";
}
