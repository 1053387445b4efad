using System.ComponentModel;
using Microsoft.Extensions.Logging;
using Platform.AppHost.Launch;
using Platform.AppHost.Options;
using Platform.AppHost.Output;

namespace Platform.AppHost.Orchestration;

/// <summary>Where a replica is in its life, as the control API reports it.</summary>
internal enum ReplicaState
{
    /// <summary>Not started yet (waiting for its dependencies).</summary>
    Waiting,

    /// <summary>Running, not yet healthy.</summary>
    Starting,

    /// <summary>Running and has been healthy (see <see cref="ReplicaSnapshot.Healthy"/> for now).</summary>
    Running,

    /// <summary>Crashed (or could not start); restarts after its back-off delay.</summary>
    BackingOff,

    /// <summary>Being stopped (SIGTERM sent).</summary>
    Stopping,

    /// <summary>Stopped on purpose; stays down until started.</summary>
    Stopped,
}

internal sealed record ReplicaSnapshot(
    string Id,
    string Resource,
    ReplicaState State,
    bool? Healthy,
    int? Pid,
    int Restarts,
    int? LastExitCode,
    DateTimeOffset? StartedAt,
    IReadOnlyList<ReplicaEndpoint> Endpoints);

/// <summary>
/// Keeps one replica running: starts its process, probes its health, restarts it after a crash with
/// exponential back-off on the same ports, and stops it gracefully. Start, stop and restart are serialised;
/// an exit that was asked for is never mistaken for a crash.
/// </summary>
internal sealed class ReplicaSupervisor
{
    private readonly ReplicaPlan _plan;
    private readonly ProcessSpec _spec;
    private readonly IHealthProbe _probe;
    private readonly ConsoleMux _console;
    private readonly SupervisionOptions _options;
    private readonly TimeProvider _time;
    private readonly ILogger _logger;
    private readonly RestartBackoff _backoff;
    private readonly SemaphoreSlim _gate = new(1, 1);
    private readonly CancellationTokenSource _lifetime = new();
    private readonly TaskCompletionSource _firstHealthy = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly Lock _stateLock = new();

    private ManagedProcess? _process;
    private CancellationTokenSource? _pendingRestart;
    private bool _desiredRunning;
    private ReplicaState _state = ReplicaState.Waiting;
    private bool? _healthy;
    private int _restarts;
    private int? _lastExitCode;
    private DateTimeOffset? _startedAt;

    public ReplicaSupervisor(
        ReplicaPlan plan, ProcessSpec spec, IHealthProbe probe, ConsoleMux console, SupervisionOptions options, TimeProvider time, ILogger logger)
    {
        _plan = plan;
        _spec = spec;
        _probe = probe;
        _console = console;
        _options = options;
        _time = time;
        _logger = logger;
        _backoff = new RestartBackoff(
            TimeSpan.FromMilliseconds(options.RestartInitialDelayMs),
            TimeSpan.FromMilliseconds(options.RestartMaxDelayMs),
            TimeSpan.FromMilliseconds(options.RestartResetAfterMs));
    }

    public ReplicaPlan Plan => _plan;

    public ProcessSpec Spec => _spec;

    /// <summary>Completes the first time the replica is healthy.</summary>
    public Task FirstHealthy => _firstHealthy.Task;

    public ReplicaSnapshot Snapshot()
    {
        lock (_stateLock)
        {
            return new ReplicaSnapshot(
                _plan.Id, _plan.Resource.Name, _state, _healthy, _process?.Pid, _restarts, _lastExitCode, _startedAt, _plan.Endpoints);
        }
    }

    /// <summary>Starts the replica unless it runs (or is about to restart: then now).</summary>
    public async Task StartAsync(CancellationToken cancellationToken)
    {
        await _gate.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            _desiredRunning = true;
            if (_process is null && !_lifetime.IsCancellationRequested)
            {
                CancelPendingRestart();
                _backoff.Reset();
                Launch();
            }
        }
        finally
        {
            _gate.Release();
        }
    }

    /// <summary>Stops the replica (graceful, then killed after the stop timeout); it stays down until started.</summary>
    public async Task StopAsync(CancellationToken cancellationToken)
    {
        await _gate.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            _desiredRunning = false;
            CancelPendingRestart();
            await TerminateAsync().ConfigureAwait(false);
            SetState(ReplicaState.Stopped, healthy: null);
        }
        finally
        {
            _gate.Release();
        }
    }

    /// <summary>Stops the replica if it runs and starts it again on the same ports.</summary>
    public async Task RestartAsync(CancellationToken cancellationToken)
    {
        await _gate.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            if (_lifetime.IsCancellationRequested)
            {
                return;
            }

            Log.RestartRequested(_logger, _plan.Id);
            _desiredRunning = true;
            CancelPendingRestart();
            await TerminateAsync().ConfigureAwait(false);
            _backoff.Reset();
            lock (_stateLock)
            {
                _restarts++;
            }

            Launch();
        }
        finally
        {
            _gate.Release();
        }
    }

    /// <summary>
    /// The AppHost is going down: from now on an exit is never restarted. Called as soon as the stop begins,
    /// since Ctrl+C in a terminal reaches every process of the group at once and children may exit before
    /// their turn to be stopped comes.
    /// </summary>
    public void BeginShutdown() => _lifetime.Cancel();

    /// <summary>The AppHost is going down: no more restarts, and the process is stopped.</summary>
    public async Task ShutdownAsync()
    {
        BeginShutdown();
        await StopAsync(CancellationToken.None).ConfigureAwait(false);
    }

    private void Launch()
    {
        SetState(ReplicaState.Starting, healthy: null);
        ManagedProcess process;
        try
        {
            process = ManagedProcess.Start(_spec, (line, isError) => _console.WriteLine(_plan.Id, line, isError));
        }
        catch (Exception ex) when (ex is Win32Exception or InvalidOperationException or IOException)
        {
            Log.ReplicaFailedToStart(_logger, _plan.Id, _spec.DisplayCommandLine, ex.Message);
            ScheduleRestart(TimeSpan.Zero);
            return;
        }

        var startedAt = _time.GetUtcNow();
        _process = process;
        lock (_stateLock)
        {
            _startedAt = startedAt;
        }

        Log.ReplicaStarted(_logger, _plan.Id, process.Pid, _spec.DisplayCommandLine);
        _ = MonitorAsync(process, startedAt);
    }

    /// <summary>Called with the gate held: the process is ours to stop.</summary>
    private async Task TerminateAsync()
    {
        if (_process is not { } process)
        {
            return;
        }

        _process = null;
        SetState(ReplicaState.Stopping, healthy: null);
        await process.StopAsync(TimeSpan.FromMilliseconds(_options.StopTimeoutMs)).ConfigureAwait(false);
        var exitCode = process.Exited.IsCompletedSuccessfully ? process.Exited.Result : -1;
        lock (_stateLock)
        {
            _lastExitCode = exitCode;
        }

        Log.ReplicaStopped(_logger, _plan.Id, process.Pid, exitCode);
    }

    private async Task MonitorAsync(ManagedProcess process, DateTimeOffset startedAt)
    {
        using var exited = CancellationTokenSource.CreateLinkedTokenSource(_lifetime.Token);
        var health = WatchHealthAsync(process, startedAt, exited.Token);
        var exitCode = await process.Exited.ConfigureAwait(false);
        await exited.CancelAsync().ConfigureAwait(false);
        await health.ConfigureAwait(false);

        await _gate.WaitAsync().ConfigureAwait(false);
        try
        {
            if (!ReferenceEquals(_process, process))
            {
                return; // stopped or restarted on purpose: TerminateAsync did the bookkeeping
            }

            _process = null;
            lock (_stateLock)
            {
                _lastExitCode = exitCode;
            }

            await process.CleanUpAfterExitAsync().ConfigureAwait(false);
            if (!_desiredRunning || _lifetime.IsCancellationRequested)
            {
                // Shutting down (a terminal's Ctrl+C reaches the children too): an exit now is no crash.
                Log.ReplicaStopped(_logger, _plan.Id, process.Pid, exitCode);
                SetState(ReplicaState.Stopped, healthy: null);
                return;
            }

            var ranFor = _time.GetUtcNow() - startedAt;
            Log.ReplicaCrashed(_logger, _plan.Id, process.Pid, exitCode, (long)ranFor.TotalMilliseconds);
            ScheduleRestart(ranFor);
        }
        finally
        {
            _gate.Release();
        }
    }

    /// <summary>Called with the gate held, or from <see cref="Launch"/> (which is).</summary>
    private void ScheduleRestart(TimeSpan ranFor)
    {
        var delay = _backoff.NextDelay(ranFor);
        Log.RestartScheduled(_logger, _plan.Id, (long)delay.TotalMilliseconds, _backoff.ConsecutiveCrashes);
        var pending = CancellationTokenSource.CreateLinkedTokenSource(_lifetime.Token);
        _pendingRestart = pending;
        _ = RestartAfterAsync(delay, pending);

        // Reported once the delay is running, so whoever sees this state sees the timer already started.
        SetState(ReplicaState.BackingOff, healthy: false);
    }

    private async Task RestartAfterAsync(TimeSpan delay, CancellationTokenSource pending)
    {
        try
        {
            await Task.Delay(delay, _time, pending.Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
            return;
        }

        await _gate.WaitAsync().ConfigureAwait(false);
        try
        {
            if (!ReferenceEquals(_pendingRestart, pending) || !_desiredRunning || _process is not null || _lifetime.IsCancellationRequested)
            {
                return;
            }

            _pendingRestart = null;
            pending.Dispose();
            lock (_stateLock)
            {
                _restarts++;
            }

            Launch();
        }
        finally
        {
            _gate.Release();
        }
    }

    private void CancelPendingRestart()
    {
        if (_pendingRestart is { } pending)
        {
            _pendingRestart = null;
            pending.Cancel();
            pending.Dispose();
        }
    }

    private async Task WatchHealthAsync(ManagedProcess process, DateTimeOffset startedAt, CancellationToken cancellationToken)
    {
        var everHealthy = false;
        var failures = 0;
        var started = _time.GetTimestamp();
        try
        {
            while (!cancellationToken.IsCancellationRequested)
            {
                bool ok;
                using (var probe = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken))
                {
                    probe.CancelAfter(TimeSpan.FromSeconds(2));
                    try
                    {
                        ok = await _probe.CheckAsync(probe.Token).ConfigureAwait(false);
                    }
                    catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
                    {
                        ok = false;
                    }
                }

                process.RefreshTree();
                if (ok)
                {
                    failures = 0;
                    if (!everHealthy)
                    {
                        everHealthy = true;
                        Log.ReplicaHealthy(_logger, _plan.Id, (long)(_time.GetUtcNow() - startedAt).TotalMilliseconds, _probe.Description);
                        UpdateHealth(process, ReplicaState.Running, healthy: true);
                        _firstHealthy.TrySetResult();
                    }
                    else if (UpdateHealth(process, ReplicaState.Running, healthy: true) == false)
                    {
                        Log.ReplicaRecovered(_logger, _plan.Id);
                    }
                }
                else if (everHealthy)
                {
                    failures++;
                    if (failures == 3)
                    {
                        Log.ReplicaUnhealthy(_logger, _plan.Id, _probe.Description, failures);
                        UpdateHealth(process, ReplicaState.Running, healthy: false);
                    }
                }
                else if (_time.GetElapsedTime(started).TotalMilliseconds > _options.StartupTimeoutMs)
                {
                    Log.ReplicaNotHealthyInTime(_logger, _plan.Id, _options.StartupTimeoutMs, _probe.Description);
                    process.Kill();
                    return;
                }

                var interval = everHealthy ? _options.ProbeIntervalMs : _options.StartupProbeIntervalMs;
                await Task.Delay(TimeSpan.FromMilliseconds(interval), _time, cancellationToken).ConfigureAwait(false);
            }
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            // The process exited or the AppHost is stopping.
        }
    }

    /// <summary>Updates state and health if <paramref name="process"/> is still the current one; returns the previous health.</summary>
    private bool? UpdateHealth(ManagedProcess process, ReplicaState state, bool healthy)
    {
        lock (_stateLock)
        {
            if (!ReferenceEquals(_process, process))
            {
                return null;
            }

            var previous = _healthy;
            _state = state;
            _healthy = healthy;
            return previous;
        }
    }

    private void SetState(ReplicaState state, bool? healthy)
    {
        lock (_stateLock)
        {
            _state = state;
            _healthy = healthy;
        }
    }
}
