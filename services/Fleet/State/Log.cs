using Microsoft.Extensions.Logging;

namespace Platform.Fleet.State;

internal static partial class Log
{
    [LoggerMessage(EventId = 110, Level = LogLevel.Warning, Message = "Fleet state runs local-only: no ConnectionStrings:redis configured")]
    public static partial void LocalOnly(ILogger logger);

    [LoggerMessage(EventId = 111, Level = LogLevel.Warning, Message = "Redis unreachable during {Operation}; fleet state continues on the local copy")]
    public static partial void RedisUnavailable(ILogger logger, string operation, Exception? exception);

    [LoggerMessage(EventId = 112, Level = LogLevel.Information, Message = "Redis reachable again: pushed {Written} local changes and reloaded {Engines} engines")]
    public static partial void Resynced(ILogger logger, long written, int engines);

    [LoggerMessage(EventId = 113, Level = LogLevel.Information, Message = "Breaker of {EngineId}: {From} -> {To} ({Reason})")]
    public static partial void BreakerTransition(ILogger logger, string engineId, string from, string to, string? reason);

    [LoggerMessage(EventId = 114, Level = LogLevel.Warning, Message = "Ignored a malformed fleet message ({Length} chars)")]
    public static partial void MalformedMessage(ILogger logger, int length);

    [LoggerMessage(EventId = 115, Level = LogLevel.Error, Message = "A fleet Changed handler threw")]
    public static partial void HandlerFailed(ILogger logger, Exception exception);

    [LoggerMessage(EventId = 116, Level = LogLevel.Debug, Message = "Fleet reconcile failed")]
    public static partial void ReconcileFailed(ILogger logger, Exception exception);
}
