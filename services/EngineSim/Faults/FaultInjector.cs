using Microsoft.Extensions.Logging;
using Platform.EngineSim.Engine;

namespace Platform.EngineSim.Faults;

/// <summary>
/// The faults the HTTP layer applies: injected errors before the first token, and the crash once a stream has
/// sent crashAfterTokens tokens. (Hang is <see cref="FaultController.WaitWhileHungAsync"/>; slowdown, latency
/// spikes and KV drift act inside the engine.) Draws come from a generator seeded by --sim-seed.
/// </summary>
internal sealed partial class FaultInjector(IInferenceEngine engine, IProcessTerminator terminator, ILogger<FaultInjector> logger)
{
    /// <summary>128 + SIGKILL: what an orchestrator sees when the OOM killer ends a process.</summary>
    public const int CrashExitCode = 137;

    private readonly Random _random = new(unchecked((int)(engine.Options.SimSeed ^ 0x5EED_FA17)));
    private readonly Lock _lock = new();
    private int _crashed;

    public FaultController Controller => engine.Faults;

    /// <summary>Decides whether this request fails before any token; <paramref name="status"/> is then its HTTP status.</summary>
    public bool ShouldFail(out int status)
    {
        var faults = Controller.Current;
        status = faults.ErrorStatus;
        if (faults.ErrorRate <= 0)
        {
            return false;
        }

        if (faults.ErrorRate >= 1)
        {
            return true;
        }

        double draw;
        lock (_lock)
        {
            draw = _random.NextDouble();
        }

        return draw < faults.ErrorRate;
    }

    /// <summary>
    /// Called after a stream flushed output: once <paramref name="tokensSent"/> reaches crashAfterTokens the
    /// process ends. Returns true when it crashed (only observable with a test terminator).
    /// </summary>
    public bool CrashIfDue(int tokensSent)
    {
        if (Controller.Current.CrashAfterTokens is not { } limit || tokensSent < limit)
        {
            return false;
        }

        if (Interlocked.Exchange(ref _crashed, 1) == 0)
        {
            LogCrashing(logger, tokensSent, limit);
        }

        // Dead first: when the terminator returns (tests), the process behaves as a crashed one would look
        // from outside for the moment before it disappears: no admissions, /health 503.
        engine.MarkDead();
        terminator.Terminate(CrashExitCode);
        return true;
    }

    [LoggerMessage(EventId = 600, Level = LogLevel.Critical,
        Message = "Fault crashAfterTokens: a stream sent {TokensSent} tokens (limit {Limit}); exiting with code 137")]
    private static partial void LogCrashing(ILogger logger, int tokensSent, int limit);
}
