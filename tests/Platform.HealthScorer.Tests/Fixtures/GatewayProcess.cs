using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Reflection;
using System.Text;

namespace Platform.HealthScorer.Tests.Fixtures;

/// <summary>
/// The real gateway as its own process (its build output, "GatewayOutput"), given exactly the environment the AppHost
/// gives it: the Fleet catalog through service discovery, ConnectionStrings__redis, Kestrel endpoints, and the
/// HealthScorer's address as services__healthscorer__grpc__0.
/// </summary>
internal sealed class GatewayProcess : IAsyncDisposable
{
    public const string ApiKey = "sk-test-healthscorer-0123";
    private readonly Process _process;
    private readonly StringBuilder _output = new();

    private GatewayProcess(Process process, Uri http)
    {
        _process = process;
        HttpUri = http;
    }

    public Uri HttpUri { get; }

    public string Output
    {
        get
        {
            lock (_output)
            {
                return _output.ToString();
            }
        }
    }

    private static string DllPath =>
        typeof(GatewayProcess).Assembly.GetCustomAttributes<AssemblyMetadataAttribute>().First(a => a.Key == "GatewayOutput").Value!;

    public static async Task<GatewayProcess> StartAsync(IReadOnlyDictionary<string, string> environment)
    {
        var http = FreePort();
        var grpc = FreePort();
        var start = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        start.ArgumentList.Add(DllPath);
        start.Environment["ASPNETCORE_ENVIRONMENT"] = "Development";
        start.Environment["Gateway__DevelopmentKey"] = ApiKey;
        start.Environment["Kestrel__Endpoints__http__Url"] = $"http://127.0.0.1:{http}";
        start.Environment["Kestrel__Endpoints__grpc__Url"] = $"http://127.0.0.1:{grpc}";
        start.Environment["DOTNET_gcServer"] = "0";
        foreach (var (key, value) in environment)
        {
            start.Environment[key] = value;
        }

        var process = new Process { StartInfo = start };
        var gateway = new GatewayProcess(process, new Uri($"http://127.0.0.1:{http}/"));
        process.OutputDataReceived += (_, e) => gateway.Append(e.Data);
        process.ErrorDataReceived += (_, e) => gateway.Append(e.Data);
        process.Start();
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();

        using var probe = new HttpClient { Timeout = TimeSpan.FromSeconds(5) };
        await Poll.UntilAsync(
            async () =>
            {
                Assert.False(process.HasExited, $"the gateway exited: {gateway.Output}");
                try
                {
                    using var r = await probe.GetAsync(new Uri(gateway.HttpUri, "health"), TestContext.Current.CancellationToken);
                    return r.IsSuccessStatusCode;
                }
                catch (Exception ex) when (ex is HttpRequestException or TaskCanceledException && !TestContext.Current.CancellationToken.IsCancellationRequested)
                {
                    // Not listening yet, or its first request is still warming up (the probe's own timeout).
                    return false;
                }
            },
            TimeSpan.FromSeconds(60),
            "the gateway's /health",
            intervalMs: 100);
        return gateway;
    }

    public HttpClient CreateClient()
    {
        var client = new HttpClient { BaseAddress = HttpUri, Timeout = TimeSpan.FromSeconds(30) };
        client.DefaultRequestHeaders.Authorization = new System.Net.Http.Headers.AuthenticationHeaderValue("Bearer", ApiKey);
        return client;
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

    private void Append(string? line)
    {
        if (line is not null)
        {
            lock (_output)
            {
                _output.AppendLine(line);
            }
        }
    }

    private static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }
}
