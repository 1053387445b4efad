using Platform.Fleet.Catalog;

namespace Platform.Watchdog.Orchestrators;

/// <summary>
/// Restarts one engine through the orchestrator that runs it, so it comes back on the same endpoint. Chosen by name
/// from <c>Watchdog:Orchestrator:Kind</c>. Returns once the orchestrator accepted the restart (the engine may not be
/// healthy yet: the watchdog waits for that itself); throws <see cref="EngineRestartException"/> when it refused or failed.
/// </summary>
internal interface IEngineRestarter
{
    /// <summary><c>apphost</c>, <c>kubernetes</c> or <c>docker</c>.</summary>
    string Name { get; }

    Task RestartAsync(EngineInfo engine, CancellationToken cancellationToken);
}

/// <summary>The orchestrator did not restart the engine; the message says why (never a credential).</summary>
internal sealed class EngineRestartException(string message, Exception? inner = null) : Exception(message, inner);
