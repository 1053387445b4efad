using Microsoft.Extensions.Logging;

namespace Platform.AppHost.Orchestration;

internal static partial class Log
{
    [LoggerMessage(1, LogLevel.Information, "Starting {Resource} ({Kind}, {Replicas} replica(s))")]
    public static partial void ResourceStarting(ILogger logger, string resource, string kind, int replicas);

    [LoggerMessage(2, LogLevel.Information, "{Replica} started, pid {Pid}: {CommandLine}")]
    public static partial void ReplicaStarted(ILogger logger, string replica, int pid, string commandLine);

    [LoggerMessage(3, LogLevel.Error, "{Replica} could not be started ({CommandLine}): {Reason}")]
    public static partial void ReplicaFailedToStart(ILogger logger, string replica, string commandLine, string reason);

    [LoggerMessage(4, LogLevel.Information, "{Replica} is healthy after {ElapsedMs} ms ({Probe})")]
    public static partial void ReplicaHealthy(ILogger logger, string replica, long elapsedMs, string probe);

    [LoggerMessage(5, LogLevel.Warning, "{Replica} (pid {Pid}) exited with code {ExitCode} after {RanForMs} ms")]
    public static partial void ReplicaCrashed(ILogger logger, string replica, int pid, int exitCode, long ranForMs);

    [LoggerMessage(6, LogLevel.Information, "{Replica} restarts in {DelayMs} ms (consecutive crashes: {Crashes})")]
    public static partial void RestartScheduled(ILogger logger, string replica, long delayMs, int crashes);

    [LoggerMessage(7, LogLevel.Warning, "{Replica} is unhealthy ({Probe} failed {Failures} times)")]
    public static partial void ReplicaUnhealthy(ILogger logger, string replica, string probe, int failures);

    [LoggerMessage(8, LogLevel.Information, "{Replica} is healthy again")]
    public static partial void ReplicaRecovered(ILogger logger, string replica);

    [LoggerMessage(9, LogLevel.Warning, "{Replica} was not healthy within {TimeoutMs} ms ({Probe}): killing it")]
    public static partial void ReplicaNotHealthyInTime(ILogger logger, string replica, long timeoutMs, string probe);

    [LoggerMessage(10, LogLevel.Information, "{Replica} stopped (pid {Pid}, exit code {ExitCode})")]
    public static partial void ReplicaStopped(ILogger logger, string replica, int pid, int exitCode);

    [LoggerMessage(11, LogLevel.Information, "Redis: using {Server} ({Detail})")]
    public static partial void RedisServerChosen(ILogger logger, string server, string detail);

    [LoggerMessage(12, LogLevel.Critical, "'dotnet tool restore' failed with exit code {ExitCode}: Garnet cannot run; install redis-server or fix the tool manifest")]
    public static partial void ToolRestoreFailed(ILogger logger, int exitCode);

    [LoggerMessage(13, LogLevel.Information, "Stopping every resource")]
    public static partial void ShuttingDown(ILogger logger);

    [LoggerMessage(14, LogLevel.Information, "Every resource stopped in {ElapsedMs} ms")]
    public static partial void ShutdownComplete(ILogger logger, long elapsedMs);

    [LoggerMessage(15, LogLevel.Information, "Control API: {Action} {Target}")]
    public static partial void ControlRequest(ILogger logger, string action, string target);

    [LoggerMessage(16, LogLevel.Information, "{Replica} restarting on request")]
    public static partial void RestartRequested(ILogger logger, string replica);

    [LoggerMessage(17, LogLevel.Information, "Waiting for {Dependencies} before starting {Resource}")]
    public static partial void WaitingForDependencies(ILogger logger, string resource, string dependencies);

    [LoggerMessage(18, LogLevel.Critical, "The platform could not be started")]
    public static partial void StartFailed(ILogger logger, Exception exception);
}
