using System.Diagnostics;
using Platform.AppHost.Hosting;
using Platform.AppHost.Launch;
using Platform.AppHost.Orchestration;

namespace Platform.AppHost.Tests.Support;

/// <summary>
/// The AppHost as a real process (<c>dotnet Platform.AppHost.dll --dynamic-ports ...</c>), as a person runs it,
/// with its output captured line by line and its ready line parsed.
/// </summary>
internal sealed class AppHostProcess : IAsyncDisposable
{
    private readonly Process _process;
    private readonly List<string> _lines = [];
    private readonly TaskCompletionSource<string> _ready = new(TaskCreationOptions.RunContinuationsAsynchronously);

    private AppHostProcess(Process process) => _process = process;

    public int Pid => _process.Id;

    public string ReadyLine { get; private set; } = "";

    public Uri ControlUrl { get; private set; } = null!;

    /// <summary>Resource name to its URLs, from the ready line.</summary>
    public IReadOnlyDictionary<string, IReadOnlyList<string>> Urls { get; private set; } = new Dictionary<string, IReadOnlyList<string>>();

    public bool HasExited => _process.HasExited;

    public int ExitCode => _process.ExitCode;

    public string Output
    {
        get
        {
            lock (_lines)
            {
                return string.Join('\n', _lines);
            }
        }
    }

    public IReadOnlyList<string> Lines
    {
        get
        {
            lock (_lines)
            {
                return _lines.ToList();
            }
        }
    }

    /// <summary>Where setsid(1) is: it starts the AppHost as the leader of its own process group, as a terminal does.</summary>
    public const string SetSid = "/usr/bin/setsid";

    public static AppHostProcess Start(params string[] args) => Start(ownProcessGroup: false, args);

    /// <summary>
    /// With <paramref name="ownProcessGroup"/> the AppHost leads a new process group (through setsid, which
    /// execs it: the pid stays the AppHost's), so a signal to the group reaches it and every child at once,
    /// as Ctrl+C in a terminal does.
    /// </summary>
    public static AppHostProcess Start(bool ownProcessGroup, params string[] args)
    {
        var info = new ProcessStartInfo(ownProcessGroup ? SetSid : DotnetHost.Resolve())
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            RedirectStandardInput = true,
            UseShellExecute = false,
        };
        if (ownProcessGroup)
        {
            info.ArgumentList.Add(DotnetHost.Resolve());
        }

        info.ArgumentList.Add(typeof(PlatformApplication).Assembly.Location);
        info.ArgumentList.Add("--dynamic-ports");
        foreach (var arg in args)
        {
            info.ArgumentList.Add(arg);
        }

        var process = new Process { StartInfo = info };
        var host = new AppHostProcess(process);
        process.OutputDataReceived += (_, e) => host.OnLine(e.Data);
        process.ErrorDataReceived += (_, e) => host.OnLine(e.Data);
        process.Start();
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        return host;
    }

    public async Task WaitForReadyAsync(TimeSpan timeout)
    {
        try
        {
            await _ready.Task.WaitAsync(timeout);
        }
        catch (TimeoutException ex)
        {
            throw new TimeoutException("The AppHost printed no 'Platform ready' line in time. Output:\n" + Output, ex);
        }
    }

    /// <summary>Sends a signal to the AppHost process only (as a supervisor would, not to its group).</summary>
    public void Signal(int signal) => Assert.True(ProcessTree.Signal(_process.Id, signal), $"signal {signal} not delivered");

    /// <summary>Sends a signal to the AppHost's whole process group (it must lead one: see <see cref="Start(bool, string[])"/>).</summary>
    public void SignalGroup(int signal) => Assert.True(ProcessTree.Signal(-_process.Id, signal), $"signal {signal} not delivered to the group");

    public async Task<int> WaitForExitAsync(TimeSpan timeout)
    {
        using var cts = new CancellationTokenSource(timeout);
        try
        {
            await _process.WaitForExitAsync(cts.Token);
        }
        catch (OperationCanceledException ex)
        {
            throw new TimeoutException("The AppHost did not exit in time. Output:\n" + Output, ex);
        }

        return _process.ExitCode;
    }

    public async ValueTask DisposeAsync()
    {
        if (!_process.HasExited)
        {
            var tree = ProcessTree.Descendants(_process.Id);
            Signal(ProcessTree.SigInt);
            try
            {
                await WaitForExitAsync(TimeSpan.FromSeconds(30));
            }
            catch (TimeoutException)
            {
                foreach (var process in tree)
                {
                    ProcessTree.Signal(process, ProcessTree.SigKill);
                }

                _process.Kill(entireProcessTree: true);
            }
        }

        _process.Dispose();
    }

    private void OnLine(string? line)
    {
        if (line is null)
        {
            return;
        }

        lock (_lines)
        {
            _lines.Add(line);
        }

        if (line.StartsWith(Orchestrator.ReadyPrefix, StringComparison.Ordinal) && !_ready.Task.IsCompleted)
        {
            // "Platform ready in 2.1 s: control=http://... redis=tcp://... enginegeneral=http://a,http://b ..."
            var urls = new Dictionary<string, IReadOnlyList<string>>(StringComparer.Ordinal);
            foreach (var token in line[(line.IndexOf(':', StringComparison.Ordinal) + 1)..].Split(' ', StringSplitOptions.RemoveEmptyEntries))
            {
                var equals = token.IndexOf('=', StringComparison.Ordinal);
                urls[token[..equals]] = token[(equals + 1)..].Split(',');
            }

            Urls = urls;
            ControlUrl = new Uri(urls["control"][0]);
            ReadyLine = line;
            _ready.TrySetResult(line);
        }
    }
}
