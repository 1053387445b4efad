using Microsoft.Extensions.Logging;

namespace Platform.EngineSim.Engine;

/// <summary>The engine's log events (ids 300-399). Never a prompt or a completion.</summary>
internal static partial class EngineLog
{
    [LoggerMessage(EventId = 300, Level = LogLevel.Information,
        Message = "Engine started: model {Model}, {Blocks} KV blocks of {BlockSize} tokens, max_num_seqs {MaxNumSeqs}, prefix caching {PrefixCaching}, speculative {Speculative}")]
    public static partial void Started(ILogger logger, string model, int blocks, int blockSize, int maxNumSeqs, bool prefixCaching, string speculative);

    [LoggerMessage(EventId = 301, Level = LogLevel.Information, Message = "Engine stopped after {Steps} steps")]
    public static partial void Stopped(ILogger logger, long steps);

    [LoggerMessage(EventId = 302, Level = LogLevel.Debug, Message = "Preempted request {RequestId} (recompute); {Running} running, {Waiting} waiting")]
    public static partial void Preempted(ILogger logger, string requestId, int running, int waiting);

    [LoggerMessage(EventId = 303, Level = LogLevel.Debug, Message = "Aborted request {RequestId}")]
    public static partial void Aborted(ILogger logger, string requestId);

    [LoggerMessage(EventId = 304, Level = LogLevel.Warning, Message = "Engine marked dead; {InFlight} requests in flight ended")]
    public static partial void MarkedDead(ILogger logger, int inFlight);

    [LoggerMessage(EventId = 305, Level = LogLevel.Critical, Message = "The scheduler loop failed; the engine is dead")]
    public static partial void LoopFailed(ILogger logger, Exception exception);

    [LoggerMessage(EventId = 306, Level = LogLevel.Warning,
        Message = "Request {RequestId} needs {Blocks} KV blocks, more than the {Total} the cache has; ended with finish_reason length")]
    public static partial void OutgrewCache(ILogger logger, string requestId, int blocks, int total);
}
