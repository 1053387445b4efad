using Platform.EngineSim.Engine;
using Platform.EngineSim.Faults;

namespace Platform.EngineSim.Cli;

/// <summary>Everything the command line decides: the engine, the faults at start, and how the server listens.</summary>
internal sealed record SimSettings
{
    public required EngineOptions Engine { get; init; }

    public required FaultSettings Faults { get; init; }

    /// <summary>vLLM flags that were accepted but are not modelled (logged once at start).</summary>
    public IReadOnlyList<string> IgnoredFlags { get; init; } = [];

    /// <summary>
    /// True when --host or --port was given. The command line then wins over Aspire's
    /// <c>Kestrel__Endpoints__http__Url</c>; without either flag that variable, when set, decides.
    /// </summary>
    public bool ListenAddressExplicit { get; init; }

    /// <summary>--sim-max-request-bytes: larger request bodies get a 413.</summary>
    public long MaxRequestBodyBytes { get; init; } = DefaultMaxRequestBodyBytes;

    /// <summary>16 MiB: a full 128k-token prompt is well under 1 MiB of JSON, so this only stops abuse.</summary>
    public const long DefaultMaxRequestBodyBytes = 16L * 1024 * 1024;
}
