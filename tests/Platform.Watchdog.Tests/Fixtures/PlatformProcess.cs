using System.Diagnostics;
using System.Reflection;

namespace Platform.Watchdog.Tests.Fixtures;

/// <summary>
/// The whole platform as real processes: the AppHost (<c>dotnet Platform.AppHost.dll --dynamic-ports</c>) from its build
/// output, which starts Redis, the EngineSim engines, the classifier, the HealthScorer, the gateway and the watchdog.
/// Extra environment variables reach every service (the AppHost passes its own environment on).
/// </summary>
internal sealed class PlatformProcess : IAsyncDisposable
{
    private readonly Process _process;
    private readonly List<string> _lines = [];
    private readonly TaskCompletionSource<string> _ready = new(TaskCreationOptions.RunContinuationsAsynchronously);

    private PlatformProcess(Process process) => _process = process;

    /// <summary>Resource name to its URLs, from the ready line.</summary>
    public IReadOnlyDictionary<string, IReadOnlyList<string>> Urls { get; private set; } = new Dictionary<string, IReadOnlyList<string>>();

    public Uri ControlUrl => new(Urls["control"][0]);

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

    private static string AppHostDll =>
        typeof(PlatformProcess).Assembly.GetCustomAttributes<AssemblyMetadataAttribute>().First(a => a.Key == "AppHostOutput").Value!;

    public static PlatformProcess Start(IReadOnlyDictionary<string, string> environment, params string[] args)
    {
        var info = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true, RedirectStandardInput = true, UseShellExecute = false };
        info.ArgumentList.Add(AppHostDll);
        info.ArgumentList.Add("--dynamic-ports");
        foreach (var arg in args)
        {
            info.ArgumentList.Add(arg);
        }

        foreach (var (key, value) in environment)
        {
            info.Environment[key] = value;
        }

        var process = new Process { StartInfo = info };
        var platform = new PlatformProcess(process);
        process.OutputDataReceived += (_, e) => platform.OnLine(e.Data);
        process.ErrorDataReceived += (_, e) => platform.OnLine(e.Data);
        process.Start();
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        return platform;
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

    public async ValueTask DisposeAsync()
    {
        if (!_process.HasExited)
        {
            // SIGTERM: the AppHost stops every process it started, then exits.
            _ = Process.Start("kill", ["-TERM", _process.Id.ToString(System.Globalization.CultureInfo.InvariantCulture)]);
            using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(30));
            try
            {
                await _process.WaitForExitAsync(cts.Token);
            }
            catch (OperationCanceledException)
            {
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

        if (line.StartsWith("Platform ready", StringComparison.Ordinal) && !_ready.Task.IsCompleted)
        {
            var urls = new Dictionary<string, IReadOnlyList<string>>(StringComparer.Ordinal);
            foreach (var token in line[(line.IndexOf(':', StringComparison.Ordinal) + 1)..].Split(' ', StringSplitOptions.RemoveEmptyEntries))
            {
                var equals = token.IndexOf('=', StringComparison.Ordinal);
                urls[token[..equals]] = token[(equals + 1)..].Split(',');
            }

            Urls = urls;
            _ready.TrySetResult(line);
        }
    }
}
