using System.Diagnostics;
using System.Net.Http.Json;
using System.Reflection;
using System.Text;
using System.Text.RegularExpressions;
using Platform.Gateway.Health;

namespace Platform.Gateway.Tests.Fixtures.Engines;

/// <summary>
/// A real EngineSim process on a dynamic port (<c>--port 0</c>; the address comes from its ready line), started from
/// the build output the test project embeds as "EngineSimOutput". Faults can be set and cleared at run time.
/// </summary>
internal sealed partial class EngineSim : IAsyncDisposable
{
    public const string Model = "llama-test";
    private readonly Process _process;
    private readonly StringBuilder _stderr = new();
    private readonly TaskCompletionSource<Uri> _ready = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly HttpClient _http = new() { Timeout = TimeSpan.FromSeconds(10) };

    private EngineSim(Process process) => _process = process;

    public Uri BaseUri { get; private set; } = null!;

    public bool HasExited => _process.HasExited;

    public int ExitCode => _process.ExitCode;

    private static string DllPath =>
        typeof(EngineSim).Assembly.GetCustomAttributes<AssemblyMetadataAttribute>().First(a => a.Key == "EngineSimOutput").Value!;

    public static async Task<EngineSim> StartAsync(params string[] args)
    {
        var start = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        start.ArgumentList.Add(DllPath);
        foreach (var a in (string[])["--model", Model, "--host", "127.0.0.1", "--port", "0", "--sim-speedup", "4", .. args])
        {
            start.ArgumentList.Add(a);
        }

        start.Environment.Remove("Kestrel__Endpoints__http__Url");
        start.Environment.Remove("VLLM_API_KEY");
        start.Environment["DOTNET_gcServer"] = "0";
        var process = new Process { StartInfo = start, EnableRaisingEvents = true };
        var engine = new EngineSim(process);
        process.OutputDataReceived += (_, e) =>
        {
            if (e.Data is not null && ReadyLine().Match(e.Data) is { Success: true } m)
            {
                engine._ready.TrySetResult(new Uri(m.Groups[1].Value + "/"));
            }
        };
        process.ErrorDataReceived += (_, e) =>
        {
            lock (engine._stderr)
            {
                engine._stderr.AppendLine(e.Data);
            }
        };
        process.Start();
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();

        var exited = process.WaitForExitAsync(TestContext.Current.CancellationToken);
        var first = await Task.WhenAny(engine._ready.Task, exited, Task.Delay(TimeSpan.FromSeconds(60), TestContext.Current.CancellationToken));
        if (first != engine._ready.Task)
        {
            await engine.DisposeAsync();
            Assert.Fail($"EngineSim did not get ready: {engine._stderr}");
        }

        engine.BaseUri = await engine._ready.Task;
        return engine;
    }

    /// <summary>Replaces the engine's faults (POST /admin/faults); an empty object clears them.</summary>
    public async Task SetFaultsAsync(object faults)
    {
        using var response = await _http.PostAsJsonAsync(new Uri(BaseUri, "admin/faults"), faults, TestContext.Current.CancellationToken);
        response.EnsureSuccessStatusCode();
    }

    public async Task<EngineMetrics> MetricsAsync()
    {
        var bytes = await _http.GetByteArrayAsync(new Uri(BaseUri, "metrics"), TestContext.Current.CancellationToken);
        return EngineMetricsReader.Read(bytes);
    }

    /// <summary>The sum of a metric's samples on /metrics (e.g. vllm:prompt_tokens_total): proves whether requests arrived.</summary>
    public async Task<double> SumAsync(string metric)
    {
        var text = await _http.GetStringAsync(new Uri(BaseUri, "metrics"), TestContext.Current.CancellationToken);
        var total = 0.0;
        foreach (var line in text.Split('\n'))
        {
            if (line.StartsWith(metric, StringComparison.Ordinal) && line.Length > metric.Length && line[metric.Length] is '{' or ' ')
            {
                total += double.Parse(line[(line.LastIndexOf(' ') + 1)..], System.Globalization.CultureInfo.InvariantCulture);
            }
        }

        return total;
    }

    public async Task<int> WaitForExitAsync(TimeSpan timeout)
    {
        using var cts = CancellationTokenSource.CreateLinkedTokenSource(TestContext.Current.CancellationToken);
        cts.CancelAfter(timeout);
        await _process.WaitForExitAsync(cts.Token);
        return _process.ExitCode;
    }

    /// <summary>Kills the process (a crash, as far as the gateway can tell); the fixture is still disposed as usual.</summary>
    public async Task KillAsync()
    {
        if (!_process.HasExited)
        {
            _process.Kill(entireProcessTree: true);
            await _process.WaitForExitAsync(CancellationToken.None);
        }
    }

    public async ValueTask DisposeAsync()
    {
        _http.Dispose();
        await KillAsync();
        _process.Dispose();
    }

    [GeneratedRegex(@"EngineSim ready on (http://[^\s,]+)")]
    private static partial Regex ReadyLine();
}
