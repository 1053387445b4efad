using System.Diagnostics;
using System.Text;
using Platform.AppHost.Launch;

namespace Platform.AppHost.Orchestration;

/// <summary>
/// One started process with its output relayed line by line. It remembers every process seen under it
/// (<see cref="RefreshTree"/>), so stopping it, or cleaning up after it crashed, reaches all of them even once
/// they have been re-parented. Stopping is graceful first: SIGTERM, then SIGKILL after the grace period.
/// Stopping polls the kernel on wall-clock time (<see cref="TimeProvider.System"/>): it is mechanics, not a
/// policy, and must make progress even when the supervisor runs on a fake clock in tests.
/// </summary>
internal sealed class ManagedProcess
{
    private readonly Process _process;
    private readonly TaskCompletionSource<int> _exited = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly HashSet<ProcessIdentity> _tree = [];
    private readonly Lock _treeLock = new();
    private int _drained;

    private ManagedProcess(Process process) => _process = process;

    public int Pid { get; private set; }

    /// <summary>Completes with the exit code (128 + signal when a signal ended it).</summary>
    public Task<int> Exited => _exited.Task;

    public bool HasExited => _exited.Task.IsCompleted;

    /// <summary>Starts the process; throws when it cannot be started (missing executable, bad directory).</summary>
    public static ManagedProcess Start(ProcessSpec spec, Action<string, bool> onLine)
    {
        var info = new ProcessStartInfo(spec.FileName)
        {
            UseShellExecute = false,
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            StandardOutputEncoding = Encoding.UTF8,
            StandardErrorEncoding = Encoding.UTF8,
            WorkingDirectory = spec.WorkingDirectory ?? string.Empty,
        };
        foreach (var argument in spec.Arguments)
        {
            info.ArgumentList.Add(argument);
        }

        foreach (var name in ProcessSpec.InheritedVariablesRemoved)
        {
            info.Environment.Remove(name);
        }

        foreach (var (name, value) in spec.Environment)
        {
            info.Environment[name] = value;
        }

        var process = new Process { StartInfo = info, EnableRaisingEvents = true };
        var managed = new ManagedProcess(process);
        process.OutputDataReceived += (_, e) =>
        {
            if (e.Data is not null)
            {
                onLine(e.Data, false);
            }
        };
        process.ErrorDataReceived += (_, e) =>
        {
            if (e.Data is not null)
            {
                onLine(e.Data, true);
            }
        };
        process.Exited += (_, _) => managed._exited.TrySetResult(SafeExitCode(process));
        try
        {
            process.Start();
        }
        catch
        {
            process.Dispose();
            throw;
        }

        managed.Pid = process.Id;
        if (ProcessTree.Identify(process.Id) is { } root)
        {
            lock (managed._treeLock)
            {
                managed._tree.Add(root);
            }
        }

        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        return managed;
    }

    /// <summary>Records the processes now under this one.</summary>
    public void RefreshTree()
    {
        if (HasExited)
        {
            return;
        }

        var descendants = ProcessTree.Descendants(Pid);
        lock (_treeLock)
        {
            _tree.UnionWith(descendants);
        }
    }

    /// <summary>Every process ever seen under this one (and itself) that still runs.</summary>
    public IReadOnlyList<ProcessIdentity> LiveTree()
    {
        lock (_treeLock)
        {
            return _tree.Where(ProcessTree.IsAlive).ToList();
        }
    }

    /// <summary>SIGKILL to the whole tree at once (a crash clean-up or a start that never became healthy).</summary>
    public void Kill()
    {
        RefreshTree();
        foreach (var process in LiveTree())
        {
            ProcessTree.Signal(process, ProcessTree.SigKill);
        }

        if (!ProcessTree.IsSupported && Volatile.Read(ref _drained) == 0)
        {
            try
            {
                _process.Kill(entireProcessTree: true);
            }
            catch (InvalidOperationException)
            {
                // Already gone.
            }
        }
    }

    /// <summary>
    /// SIGTERM to the process, then to whatever of its tree outlives it; SIGKILL to everything left after
    /// <paramref name="grace"/>. Returns once the process has exited and its output is drained.
    /// </summary>
    public async Task StopAsync(TimeSpan grace)
    {
        var time = TimeProvider.System;
        RefreshTree();
        if (!ProcessTree.IsSupported)
        {
            Kill();
            await Exited.ConfigureAwait(false);
            return;
        }

        var deadline = time.GetUtcNow() + grace;
        ProcessTree.Signal(Pid, ProcessTree.SigTerm);
        await WaitUntilAsync(() => HasExited, deadline, time).ConfigureAwait(false);
        if (!HasExited)
        {
            Kill();
        }

        // Children that outlived the root get the same treatment: SIGTERM, then SIGKILL at the deadline.
        foreach (var orphan in LiveTree())
        {
            ProcessTree.Signal(orphan, ProcessTree.SigTerm);
        }

        await WaitUntilAsync(() => LiveTree().Count == 0, deadline, time).ConfigureAwait(false);
        foreach (var orphan in LiveTree())
        {
            ProcessTree.Signal(orphan, ProcessTree.SigKill);
        }

        try
        {
            await Exited.WaitAsync(TimeSpan.FromSeconds(10), time).ConfigureAwait(false);
        }
        catch (TimeoutException)
        {
            // Unkillable (uninterruptible sleep in the kernel): nothing more can be done from here.
        }

        await DrainAsync().ConfigureAwait(false);
    }

    /// <summary>After the process exited: kills what it left behind and waits for its last output lines.</summary>
    public async Task CleanUpAfterExitAsync()
    {
        foreach (var orphan in LiveTree())
        {
            ProcessTree.Signal(orphan, ProcessTree.SigKill);
        }

        await DrainAsync().ConfigureAwait(false);
    }

    private async Task DrainAsync()
    {
        if (Interlocked.Exchange(ref _drained, 1) != 0 || !HasExited)
        {
            return;
        }

        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(2));
        try
        {
            await _process.WaitForExitAsync(cts.Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
            // Output held open by a process outside our reach: stop waiting for it.
        }
        finally
        {
            _process.Dispose();
        }
    }

    private static async Task WaitUntilAsync(Func<bool> condition, DateTimeOffset deadline, TimeProvider time)
    {
        while (!condition() && time.GetUtcNow() < deadline)
        {
            await Task.Delay(TimeSpan.FromMilliseconds(25), time).ConfigureAwait(false);
        }
    }

    private static int SafeExitCode(Process process)
    {
        try
        {
            return process.ExitCode;
        }
        catch (InvalidOperationException)
        {
            return -1;
        }
    }
}
