using System.Diagnostics;
using System.Net.Http.Json;
using System.Reflection;
using System.Text;
using System.Text.RegularExpressions;

namespace Platform.HealthScorer.Tests.Fixtures;

/// <summary>
/// A real EngineSim process on a dynamic port (<c>--port 0</c>; the address comes from its ready line), started from
/// the build output the test project embeds as "EngineSimOutput". Faults can be set at run time.
/// </summary>
internal sealed partial class EngineSim : IAsyncDisposable
{
    private readonly Process _process;
    private readonly StringBuilder _stderr = new();
    private readonly TaskCompletionSource<Uri> _ready = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly HttpClient _http = new() { Timeout = TimeSpan.FromSeconds(10) };

    private EngineSim(Process process) => _process = process;

    public Uri BaseUri { get; private set; } = null!;

    private static string DllPath =>
        typeof(EngineSim).Assembly.GetCustomAttributes<AssemblyMetadataAttribute>().First(a => a.Key == "EngineSimOutput").Value!;

    public static async Task<EngineSim> StartAsync(string model, params string[] args)
    {
        var start = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        start.ArgumentList.Add(DllPath);
        foreach (var a in (string[])["--model", model, "--host", "127.0.0.1", "--port", "0", .. args])
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

    /// <summary>vllm:kv_cache_usage_perc as the engine serves it now.</summary>
    public async Task<double> KvCacheUsageAsync(CancellationToken cancellationToken)
    {
        var text = await _http.GetStringAsync(new Uri(BaseUri, "metrics"), cancellationToken);
        var m = KvLine().Match(text);
        return m.Success ? double.Parse(m.Groups[1].Value, System.Globalization.CultureInfo.InvariantCulture) : double.NaN;
    }

    public async ValueTask DisposeAsync()
    {
        _http.Dispose();
        if (!_process.HasExited)
        {
            _process.Kill(entireProcessTree: true);
            await _process.WaitForExitAsync(CancellationToken.None);
        }

        _process.Dispose();
    }

    [GeneratedRegex(@"EngineSim ready on (http://[^\s,]+)")]
    private static partial Regex ReadyLine();

    [GeneratedRegex(@"^vllm:kv_cache_usage_perc\{[^}]*\} (\S+)$", RegexOptions.Multiline)]
    private static partial Regex KvLine();
}
