using System.Diagnostics;
using System.Text;
using System.Text.RegularExpressions;

namespace Platform.EngineSim.Tests.Fixtures;

/// <summary>
/// EngineSim as its own process (<c>dotnet Platform.EngineSim.dll ...</c>, the build copied next to the tests),
/// for what only a process shows: exit codes, stderr, the ready line. Its address is read from the ready line.
/// </summary>
internal sealed partial class EngineSimProcess : IAsyncDisposable
{
    private readonly Process _process;
    private readonly StringBuilder _stdout = new();
    private readonly StringBuilder _stderr = new();
    private readonly TaskCompletionSource<Uri> _ready = new(TaskCreationOptions.RunContinuationsAsynchronously);

    private EngineSimProcess(Process process) => _process = process;

    public Process Process => _process;

    public string StandardError
    {
        get
        {
            lock (_stderr)
            {
                return _stderr.ToString();
            }
        }
    }

    public string StandardOutput
    {
        get
        {
            lock (_stdout)
            {
                return _stdout.ToString();
            }
        }
    }

    public static EngineSimProcess Start(params string[] args)
    {
        var dll = Path.Combine(AppContext.BaseDirectory, "Platform.EngineSim.dll");
        var start = new ProcessStartInfo("dotnet")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        start.ArgumentList.Add(dll);
        foreach (var arg in args)
        {
            start.ArgumentList.Add(arg);
        }

        start.Environment.Remove("Kestrel__Endpoints__http__Url");
        start.Environment.Remove("VLLM_API_KEY");
        var process = new Process { StartInfo = start, EnableRaisingEvents = true };
        var engine = new EngineSimProcess(process);
        process.OutputDataReceived += (_, e) => engine.OnOutput(e.Data);
        process.ErrorDataReceived += (_, e) =>
        {
            if (e.Data is not null)
            {
                lock (engine._stderr)
                {
                    engine._stderr.AppendLine(e.Data);
                }
            }
        };
        process.Start();
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        return engine;
    }

    /// <summary>Waits for "EngineSim ready on http://host:port" and returns that address.</summary>
    public async Task<Uri> WaitReadyAsync(TimeSpan timeout)
    {
        var exited = _process.WaitForExitAsync(TestContext.Current.CancellationToken);
        var first = await Task.WhenAny(_ready.Task, exited, Task.Delay(timeout, TestContext.Current.CancellationToken));
        if (first != _ready.Task)
        {
            Assert.Fail($"EngineSim did not get ready (exited: {_process.HasExited}). stdout: {StandardOutput} stderr: {StandardError}");
        }

        return await _ready.Task;
    }

    public async Task<int> WaitForExitAsync(TimeSpan timeout)
    {
        using var cts = CancellationTokenSource.CreateLinkedTokenSource(TestContext.Current.CancellationToken);
        cts.CancelAfter(timeout);
        await _process.WaitForExitAsync(cts.Token);
        return _process.ExitCode;
    }

    public async ValueTask DisposeAsync()
    {
        if (!_process.HasExited)
        {
            _process.Kill(entireProcessTree: true);
            await _process.WaitForExitAsync(CancellationToken.None);
        }

        _process.Dispose();
    }

    private void OnOutput(string? line)
    {
        if (line is null)
        {
            return;
        }

        lock (_stdout)
        {
            _stdout.AppendLine(line);
        }

        if (ReadyLine().Match(line) is { Success: true } match)
        {
            _ready.TrySetResult(new Uri(match.Groups[1].Value + "/"));
        }
    }

    [GeneratedRegex(@"EngineSim ready on (http://[^\s,]+)")]
    private static partial Regex ReadyLine();
}
