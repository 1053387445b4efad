using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Reflection;

namespace Platform.Bench;

/// <summary>
/// A process the benchmark starts and measures apart from the load it generates (CPU time, resident memory):
/// an EngineSim, a gateway, or redis-server. Stopped (whole tree) on dispose.
/// </summary>
internal sealed class BenchProcess : IAsyncDisposable
{
    private readonly Process _process;

    private BenchProcess(string name, Process process, Uri baseUri)
    {
        Name = name;
        _process = process;
        BaseUri = baseUri;
    }

    public string Name { get; }

    public Uri BaseUri { get; }

    public int ProcessId => _process.Id;

    public bool HasExited => _process.HasExited;

    public int? ExitCodeOrNull => _process.HasExited ? _process.ExitCode : null;

    /// <summary>The build output of a project built with this tool (embedded at build time).</summary>
    public static string BuildOutput(string key) =>
        typeof(BenchProcess).Assembly.GetCustomAttributes<AssemblyMetadataAttribute>().First(a => a.Key == key).Value!;

    public static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }

    /// <summary>Starts EngineSim on a free port with vLLM-style arguments and waits for /health.</summary>
    public static Task<BenchProcess> StartEngineAsync(string name, IEnumerable<string> engineArgs, CancellationToken ct, string? dll = null)
    {
        var port = FreePort();
        var args = new List<string> { dll ?? BuildOutput("EngineSimOutput") };
        args.AddRange(engineArgs);
        args.AddRange(["--host", "127.0.0.1", "--port", port.ToString(CultureInfo.InvariantCulture)]);
        return StartAsync(name, "dotnet", args, new Dictionary<string, string> { ["Logging__LogLevel__Default"] = "Warning" },
            new Uri($"http://127.0.0.1:{port}"), "/health", ct);
    }

    /// <summary>Starts redis-server on a free port (no persistence) and waits until it accepts connections.</summary>
    public static async Task<BenchProcess> StartRedisAsync(CancellationToken ct, int? fixedPort = null)
    {
        var port = fixedPort ?? FreePort();
        var dir = Directory.CreateTempSubdirectory("platform-bench-redis-").FullName;
        var redis = await StartAsync("redis", "redis-server",
            ["--port", port.ToString(CultureInfo.InvariantCulture), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", dir],
            new Dictionary<string, string>(), new Uri($"tcp://127.0.0.1:{port}"), healthPath: null, ct);
        return redis;
    }

    public static async Task<BenchProcess> StartAsync(
        string name,
        string fileName,
        IEnumerable<string> args,
        IDictionary<string, string> environment,
        Uri baseUri,
        string? healthPath,
        CancellationToken ct,
        Action<string>? onOutput = null)
    {
        var start = new ProcessStartInfo(fileName)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (var a in args)
        {
            start.ArgumentList.Add(a);
        }

        foreach (var (key, value) in environment)
        {
            start.Environment[key] = value;
        }

        var process = Process.Start(start) ?? throw new InvalidOperationException($"could not start {name}");
        process.OutputDataReceived += (_, e) =>
        {
            if (e.Data is not null)
            {
                onOutput?.Invoke(e.Data);
            }
        };
        process.ErrorDataReceived += (_, e) =>
        {
            if (e.Data is not null)
            {
                Console.Error.WriteLine($"[{name}] {e.Data}");
            }
        };
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();

        var started = new BenchProcess(name, process, baseUri);
        try
        {
            await started.WaitHealthyAsync(healthPath, ct);
        }
        catch
        {
            await started.DisposeAsync();
            throw;
        }

        return started;
    }

    private async Task WaitHealthyAsync(string? healthPath, CancellationToken ct)
    {
        using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(2) };
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(60);
        while (true)
        {
            ct.ThrowIfCancellationRequested();
            if (_process.HasExited)
            {
                throw new InvalidOperationException($"{Name} exited with code {_process.ExitCode} at start");
            }

            try
            {
                if (healthPath is null)
                {
                    using var client = new TcpClient();
                    await client.ConnectAsync(BaseUri.Host, BaseUri.Port, ct);
                    return;
                }

                using var health = await http.GetAsync(new Uri(BaseUri, healthPath), ct);
                if (health.IsSuccessStatusCode)
                {
                    return;
                }
            }
            catch (Exception e) when (e is HttpRequestException or SocketException || (e is TaskCanceledException && !ct.IsCancellationRequested))
            {
            }

            if (DateTime.UtcNow > deadline)
            {
                throw new TimeoutException($"{Name} did not become healthy within 60 s");
            }

            await Task.Delay(100, ct);
        }
    }

    /// <summary>CPU time (user + system) the process has used so far.</summary>
    public TimeSpan CpuTime()
    {
        _process.Refresh();
        return _process.TotalProcessorTime;
    }

    /// <summary>Resident set size in bytes, read from /proc (VmRSS).</summary>
    public long ResidentBytes()
    {
        foreach (var line in File.ReadLines($"/proc/{_process.Id}/status"))
        {
            if (line.StartsWith("VmRSS:", StringComparison.Ordinal))
            {
                var kb = long.Parse(line.AsSpan(6).Trim().ToString().Split(' ')[0], CultureInfo.InvariantCulture);
                return kb * 1024;
            }
        }

        return 0;
    }

    public async ValueTask DisposeAsync()
    {
        if (!_process.HasExited)
        {
            _process.Kill(entireProcessTree: true);
            await _process.WaitForExitAsync();
        }

        _process.Dispose();
    }
}
