using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Reflection;

namespace Platform.HealthScorer.Tests.Fixtures;

/// <summary>The real Classifier as its own process (its build output, "ClassifierOutput"), on dynamic ports, as the AppHost starts it.</summary>
internal sealed class ClassifierProcess : IAsyncDisposable
{
    private readonly Process _process;

    private ClassifierProcess(Process process, Uri grpc)
    {
        _process = process;
        GrpcUri = grpc;
    }

    public Uri GrpcUri { get; }

    public static async Task<ClassifierProcess> StartAsync()
    {
        var dll = typeof(ClassifierProcess).Assembly.GetCustomAttributes<AssemblyMetadataAttribute>().First(a => a.Key == "ClassifierOutput").Value!;
        var http = new Uri($"http://127.0.0.1:{FreePort()}/");
        var grpc = new Uri($"http://127.0.0.1:{FreePort()}/");
        var start = new ProcessStartInfo("dotnet") { UseShellExecute = false, RedirectStandardOutput = true, RedirectStandardError = true };
        start.ArgumentList.Add(dll);
        start.Environment["Kestrel__Endpoints__http__Url"] = http.AbsoluteUri.TrimEnd('/');
        start.Environment["Kestrel__Endpoints__grpc__Url"] = grpc.AbsoluteUri.TrimEnd('/');
        start.Environment["Logging__LogLevel__Default"] = "Warning";
        start.Environment["DOTNET_gcServer"] = "0";
        var process = Process.Start(start)!;
        process.OutputDataReceived += (_, _) => { };
        process.ErrorDataReceived += (_, _) => { };
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        var classifier = new ClassifierProcess(process, grpc);

        using var probe = new HttpClient { Timeout = TimeSpan.FromSeconds(5) };
        try
        {
            await Poll.UntilAsync(
                async () =>
                {
                    Assert.False(process.HasExited, "the classifier exited at start");
                    try
                    {
                        using var r = await probe.GetAsync(new Uri(http, "health"), TestContext.Current.CancellationToken);
                        return r.IsSuccessStatusCode;
                    }
                    catch (Exception ex) when (ex is HttpRequestException or TaskCanceledException && !TestContext.Current.CancellationToken.IsCancellationRequested)
                    {
                        return false;
                    }
                },
                TimeSpan.FromSeconds(60),
                "the classifier's /health",
                intervalMs: 100);
        }
        catch
        {
            await classifier.DisposeAsync();
            throw;
        }

        return classifier;
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

    private static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }
}
