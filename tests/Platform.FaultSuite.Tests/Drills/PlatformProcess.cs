using System.Diagnostics;
using System.Net.Http.Json;
using System.Runtime.InteropServices;
using System.Text.Json;

namespace Platform.FaultSuite.Drills;

/// <summary>
/// The whole topology as the AppHost runs it (<c>dotnet Platform.AppHost.dll --dynamic-ports ...</c>): its ready line
/// parsed into URLs, its output kept, its control API at hand. Shared by the fault-suite tests and the bench drills.
/// </summary>
internal sealed partial class PlatformProcess : IAsyncDisposable
{
    public const string ReadyPrefix = "Platform ready";

    /// <summary>The gateway's admin key in these drills (its <c>/admin/fleet</c> shows the gateway's own view).</summary>
    public const string AdminKey = "admin-faultsuite";

    private const int SigTerm = 15;
    private readonly Process _process;
    private readonly List<string> _lines = [];
    private readonly TaskCompletionSource _ready = new(TaskCreationOptions.RunContinuationsAsynchronously);

    private PlatformProcess(Process process) => _process = process;

    public IReadOnlyDictionary<string, IReadOnlyList<string>> Urls { get; private set; } = new Dictionary<string, IReadOnlyList<string>>();

    public HttpClient Control { get; private set; } = null!;

    public Uri Gateway => new(Urls["gateway"][0]);

    public string ApiKey => Urls["apikey"][0];

    /// <summary>Engine replica id (<c>enginegeneral-1</c>) to its base URL, every pool.</summary>
    public IReadOnlyDictionary<string, Uri> Engines { get; private set; } = new Dictionary<string, Uri>();

    public string[] Lines
    {
        get
        {
            lock (_lines)
            {
                return [.. _lines];
            }
        }
    }

    /// <summary>Starts the AppHost from <paramref name="appHostDll"/> with every port dynamic, and waits for its ready line.</summary>
    public static Task<PlatformProcess> StartAsync(string appHostDll, TimeSpan readyTimeout, params string[] args) =>
        StartAsync(appHostDll, readyTimeout, new Dictionary<string, string>(), args);

    /// <summary>
    /// As above, with <paramref name="environment"/> added to the AppHost's environment, which every replica inherits
    /// (configuration such as <c>Watchdog__Detectors__Hung__ProbeTimeout</c> reaches the one service that reads it).
    /// </summary>
    public static async Task<PlatformProcess> StartAsync(
        string appHostDll, TimeSpan readyTimeout, IReadOnlyDictionary<string, string> environment, params string[] args)
    {
        var info = new ProcessStartInfo(DotnetHost())
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            RedirectStandardInput = true,
            UseShellExecute = false,
        };
        info.ArgumentList.Add(appHostDll);
        info.ArgumentList.Add("--dynamic-ports");
        foreach (var arg in args)
        {
            info.ArgumentList.Add(arg);
        }

        // Inherited by every replica; only the gateway reads it.
        info.Environment["Gateway__Admin__Key"] = AdminKey;
        foreach (var (name, value) in environment)
        {
            info.Environment[name] = value;
        }

        var process = new Process { StartInfo = info };
        var platform = new PlatformProcess(process);
        process.OutputDataReceived += (_, e) => platform.OnLine(e.Data);
        process.ErrorDataReceived += (_, e) => platform.OnLine(e.Data);
        process.Start();
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        try
        {
            await platform._ready.Task.WaitAsync(readyTimeout);
        }
        catch (TimeoutException ex)
        {
            var output = string.Join('\n', platform.Lines.TakeLast(80));
            await platform.DisposeAsync();
            throw new TimeoutException($"The AppHost printed no ready line within {readyTimeout.TotalSeconds:0} s. Last output:\n{output}", ex);
        }

        return platform;
    }

    /// <summary>POST /resources/{target}/{verb} (stop, start, restart) on the control API.</summary>
    public async Task ControlAsync(string target, string verb, CancellationToken ct)
    {
        using var response = await Control.PostAsync($"/resources/{target}/{verb}", null, ct);
        response.EnsureSuccessStatusCode();
    }

    /// <summary>One replica as the control API describes it (state, healthy, pid, restarts, ...).</summary>
    public async Task<JsonElement> ReplicaAsync(string id, CancellationToken ct) =>
        (await Control.GetFromJsonAsync<JsonElement>($"/resources/{id}", ct))[0].GetProperty("replicas")[0];

    /// <summary>Waits until every replica is running and healthy (after a drill put things back).</summary>
    public async Task WaitAllHealthyAsync(TimeSpan timeout, CancellationToken ct)
    {
        var clock = Stopwatch.StartNew();
        while (true)
        {
            var resources = await Control.GetFromJsonAsync<JsonElement>("/resources", ct);
            var unhealthy = Replicas(resources).Where(r => !(r.GetProperty("state").GetString() == "running" && r.GetProperty("healthy").ValueKind == JsonValueKind.True)).ToList();
            if (unhealthy.Count == 0)
            {
                return;
            }

            if (clock.Elapsed > timeout)
            {
                throw new TimeoutException($"Replicas not healthy within {timeout.TotalSeconds:0} s: {string.Join(", ", unhealthy.Select(r => r.GetRawText()))}");
            }

            await Task.Delay(100, ct);
        }
    }

    public async ValueTask DisposeAsync()
    {
        if (!_process.HasExited)
        {
            _ = Kill(_process.Id, SigTerm);
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

        Control?.Dispose();
        _process.Dispose();
    }

    private static IEnumerable<JsonElement> Replicas(JsonElement resources)
    {
        // GET /resources: [{ name, kind, replicas: [{ id, state, healthy, pid, ... }] }]
        foreach (var resource in resources.EnumerateArray())
        {
            foreach (var replica in resource.GetProperty("replicas").EnumerateArray())
            {
                yield return replica;
            }
        }
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

        if (line.StartsWith(ReadyPrefix, StringComparison.Ordinal) && !_ready.Task.IsCompleted)
        {
            // "Platform ready in 2.1 s: control=http://... redis=tcp://... enginegeneral=http://a,http://b ... apikey=sk-..."
            var urls = new Dictionary<string, IReadOnlyList<string>>(StringComparer.Ordinal);
            foreach (var token in line[(line.IndexOf(':', StringComparison.Ordinal) + 1)..].Split(' ', StringSplitOptions.RemoveEmptyEntries))
            {
                var equals = token.IndexOf('=', StringComparison.Ordinal);
                urls[token[..equals]] = token[(equals + 1)..].Split(',');
            }

            var engines = new Dictionary<string, Uri>(StringComparer.Ordinal);
            foreach (var (name, list) in urls.Where(u => u.Key.StartsWith("engine", StringComparison.Ordinal)))
            {
                for (var i = 0; i < list.Count; i++)
                {
                    engines[$"{name}-{i}"] = new Uri(list[i]);
                }
            }

            Urls = urls;
            Engines = engines;
            Control = new HttpClient { BaseAddress = new Uri(urls["control"][0]) };
            _ready.TrySetResult();
        }
    }

    private static string DotnetHost()
    {
        var self = Environment.ProcessPath;
        if (self is not null && Path.GetFileNameWithoutExtension(self).Equals("dotnet", StringComparison.OrdinalIgnoreCase))
        {
            return self;
        }

        var fromSdk = Environment.GetEnvironmentVariable("DOTNET_HOST_PATH");
        if (!string.IsNullOrEmpty(fromSdk) && File.Exists(fromSdk))
        {
            return fromSdk;
        }

        var root = Environment.GetEnvironmentVariable("DOTNET_ROOT");
        return !string.IsNullOrEmpty(root) && File.Exists(Path.Combine(root, "dotnet")) ? Path.Combine(root, "dotnet") : "dotnet";
    }

    [LibraryImport("libc", EntryPoint = "kill", SetLastError = true)]
    private static partial int Kill(int pid, int signal);
}
