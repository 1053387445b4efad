using System.ComponentModel.DataAnnotations;

namespace Platform.AppHost.Options;

/// <summary>
/// The AppHost's own settings: section <c>AppHost</c> of appsettings.json, overridden by the command line
/// (see <see cref="AppHostCommandLine"/>). Validated at start; a bad value stops the AppHost with a message
/// that names the setting.
/// </summary>
internal sealed class AppHostOptions
{
    public const string SectionName = "AppHost";

    /// <summary>Every port (control API included) is picked by the operating system: for tests and parallel runs.</summary>
    public bool DynamicPorts { get; set; }

    /// <summary>Port of the control API on 127.0.0.1; 0 = picked by the operating system.</summary>
    [Range(0, 65535)]
    public int ControlPort { get; set; } = 18000;

    /// <summary>First port of engine replicas (in declaration order) when ports are fixed.</summary>
    [Range(1, 65000)]
    public int EnginePortBase { get; set; } = 18100;

    /// <summary>First port of services' endpoints without a declared port, when ports are fixed.</summary>
    [Range(1, 65000)]
    public int ServicePortBase { get; set; } = 18200;

    /// <summary>ASPNETCORE_ENVIRONMENT of every resource.</summary>
    [Required]
    public string Environment { get; set; } = "Development";

    /// <summary>OTLP endpoint every resource exports to; empty: telemetry export off (defaults to the AppHost's own OTEL_EXPORTER_OTLP_ENDPOINT).</summary>
    public string? OtlpEndpoint { get; set; }

    /// <summary>OTEL_EXPORTER_OTLP_PROTOCOL: grpc or http/protobuf.</summary>
    [AllowedValues("grpc", "http/protobuf", "http/json", ErrorMessage = "use grpc, http/protobuf or http/json.")]
    public string OtlpProtocol { get; set; } = "grpc";

    /// <summary>sim (EngineSim, the default) or vllm (real engines, see <see cref="Vllm"/>).</summary>
    [AllowedValues("sim", "vllm", ErrorMessage = "use sim or vllm.")]
    public string Engines { get; set; } = "sim";

    /// <summary>EngineSim's --sim-speedup: divides every simulated step time.</summary>
    [Range(0.01, 10_000)]
    public double EngineSpeedup { get; set; } = 1.0;

    /// <summary>Base of every replica's --sim-seed (replica n gets Seed + n).</summary>
    [Range(0, 1_000_000_000)]
    public long Seed { get; set; } = 42;

    /// <summary>The gateway's HTTP endpoint (OpenAI API, health, metrics) when ports are fixed.</summary>
    [Range(1, 65535)]
    public int GatewayHttpPort { get; set; } = 8080;

    /// <summary>The gateway's gRPC (h2c) endpoint when ports are fixed.</summary>
    [Range(1, 65535)]
    public int GatewayGrpcPort { get; set; } = 8081;

    /// <summary>The development API key the gateway accepts; empty: a random sk-dev-... key per run.</summary>
    public string? ApiKey { get; set; }

    /// <summary>auto (redis-server from PATH, else garnet), redis-server, or garnet.</summary>
    [AllowedValues("auto", "redis-server", "garnet", ErrorMessage = "use auto, redis-server or garnet.")]
    public string Redis { get; set; } = "auto";

    /// <summary>Crash restarts, graceful stop, start-up and health probing.</summary>
    [Required]
    public SupervisionOptions Supervision { get; set; } = new();

    [Required]
    public VllmOptions Vllm { get; set; } = new();
}

internal sealed class SupervisionOptions
{
    /// <summary>Delay before the first restart after a crash; doubled per consecutive crash.</summary>
    [Range(0, 600_000)]
    public int RestartInitialDelayMs { get; set; } = 500;

    /// <summary>Longest delay between restarts.</summary>
    [Range(1, 3_600_000)]
    public int RestartMaxDelayMs { get; set; } = 30_000;

    /// <summary>A process that ran this long before crashing starts the back-off afresh.</summary>
    [Range(1, 86_400_000)]
    public int RestartResetAfterMs { get; set; } = 60_000;

    /// <summary>After SIGTERM, how long a process may take to exit before it (and its tree) is killed.</summary>
    [Range(100, 600_000)]
    public int StopTimeoutMs { get; set; } = 5_000;

    /// <summary>A process not healthy this long after it started is killed and restarted.</summary>
    [Range(1_000, 3_600_000)]
    public int StartupTimeoutMs { get; set; } = 180_000;

    /// <summary>Health probe period while starting (fast, so the platform is ready as soon as it can be).</summary>
    [Range(10, 60_000)]
    public int StartupProbeIntervalMs { get; set; } = 100;

    /// <summary>Health probe period once healthy.</summary>
    [Range(100, 600_000)]
    public int ProbeIntervalMs { get; set; } = 2_000;
}

/// <summary>
/// Real vLLM engines (<c>--engines vllm</c>): a <c>vllm</c> executable (<c>vllm serve MODEL ...</c>), or, when
/// <see cref="Image"/> is set, a container (<c>docker run --gpus ... IMAGE --model MODEL ...</c>).
/// </summary>
internal sealed class VllmOptions
{
    /// <summary>The vllm executable (used when <see cref="Image"/> is empty).</summary>
    public string Executable { get; set; } = "vllm";

    /// <summary>Container image, e.g. vllm/vllm-openai:v0.11.0; empty: run <see cref="Executable"/>.</summary>
    public string? Image { get; set; }

    /// <summary>Container runtime CLI.</summary>
    public string Docker { get; set; } = "docker";

    /// <summary>docker run --gpus value.</summary>
    public string Gpus { get; set; } = "all";

    /// <summary>Host directory mounted as the container's Hugging Face cache; empty: none.</summary>
    public string? HuggingFaceCache { get; set; }

    /// <summary>Catalog model name to the weights vLLM loads (Hugging Face id or local path); unmapped names are passed as they are.</summary>
    public Dictionary<string, string> Models { get; set; } = new(StringComparer.Ordinal);

    /// <summary>Arguments appended to every vLLM engine (e.g. --gpu-memory-utilization 0.90).</summary>
    public List<string> ExtraArgs { get; set; } = [];
}
