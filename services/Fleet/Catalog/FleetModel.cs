namespace Platform.Fleet.Catalog;

/// <summary>What a pool's draft model (or the pool itself) is tuned for; requests go to the matching pool first.</summary>
public enum TaskAffinity
{
    None,
    General,
    Code,
}

/// <summary>One engine replica: one OpenAI-compatible server (vLLM or EngineSim).</summary>
/// <param name="Id">"{service}-{index}" (e.g. "enginegeneral-1") or host:port.</param>
/// <param name="Pool">The pool's name (also its service name).</param>
/// <param name="Model">The served model name clients send.</param>
/// <param name="BaseUri">e.g. http://127.0.0.1:18101/ (always ends with '/').</param>
public sealed record EngineInfo(string Id, string Pool, string Model, Uri BaseUri);

/// <summary>Speculative decoding of a pool, as vLLM's --speculative-config says.</summary>
public sealed record SpeculativeInfo(string Method, string DraftModel, TaskAffinity DraftKind, int NumSpeculativeTokens);

/// <summary>A pool: engines serving one model with one speculative-decoding profile.</summary>
public sealed record PoolInfo(
    string Name,
    string Model,
    TaskAffinity Affinity,
    int MaxModelLen,
    SpeculativeInfo? Speculative,
    IReadOnlyList<EngineInfo> Engines);

/// <summary>A model clients may name, with the model requests fall back to.</summary>
public sealed record ModelInfo(string Name, string? FallbackModel, int MaxModelLen, IReadOnlyList<PoolInfo> Pools);

/// <summary>
/// The validated, immutable engine catalog (configuration section "Fleet", the shape the AppHost writes:
/// see AppHost/README.md). Registered as a singleton by <c>AddFleetCatalog</c>; a bad catalog stops the process
/// at start with a message naming every wrong setting.
/// </summary>
public interface IFleetCatalog
{
    IReadOnlyList<ModelInfo> Models { get; }

    IReadOnlyList<PoolInfo> Pools { get; }

    IReadOnlyList<EngineInfo> Engines { get; }

    /// <summary>The model named exactly so, or null.</summary>
    ModelInfo? FindModel(string name);

    /// <summary>The engine with this id, or null.</summary>
    EngineInfo? FindEngine(string engineId);

    /// <summary>The pool with this name, or null.</summary>
    PoolInfo? FindPool(string name);
}
