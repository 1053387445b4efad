using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Reflection;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using Platform.Classifier.V1;
using Platform.Gateway.Classification;
using Platform.Gateway.Pipeline;

namespace Platform.Gateway.Tests.Classification;

/// <summary>The gateway's classifier client against the real Classifier service, started as a process the way the AppHost starts it.</summary>
public sealed class RealClassifierTests : IAsyncLifetime
{
    private Process? _process;
    private string _grpcUrl = "";

    public async ValueTask InitializeAsync()
    {
        var dll = typeof(RealClassifierTests).Assembly.GetCustomAttributes<AssemblyMetadataAttribute>().First(a => a.Key == "ClassifierOutput").Value!;
        var httpUrl = $"http://127.0.0.1:{FreePort()}";
        _grpcUrl = $"http://127.0.0.1:{FreePort()}";
        var start = new ProcessStartInfo("dotnet") { UseShellExecute = false, RedirectStandardOutput = true, RedirectStandardError = true };
        start.ArgumentList.Add(dll);
        start.Environment["Kestrel__Endpoints__http__Url"] = httpUrl;
        start.Environment["Kestrel__Endpoints__grpc__Url"] = _grpcUrl;
        start.Environment["DOTNET_gcServer"] = "0";
        _process = Process.Start(start)!;
        _process.OutputDataReceived += (_, _) => { };
        _process.ErrorDataReceived += (_, _) => { };
        _process.BeginOutputReadLine();
        _process.BeginErrorReadLine();

        using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(2) };
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(60);
        while (true)
        {
            Assert.False(_process.HasExited, "the classifier exited at start");
            try
            {
                using var health = await http.GetAsync(httpUrl + "/health", TestContext.Current.CancellationToken);
                if (health.IsSuccessStatusCode)
                {
                    return;
                }
            }
            catch (Exception e) when (e is HttpRequestException or TaskCanceledException)
            {
            }

            Assert.True(DateTime.UtcNow < deadline, "the classifier did not become healthy within 60 s");
            await Task.Delay(100, TestContext.Current.CancellationToken);
        }
    }

    public async ValueTask DisposeAsync()
    {
        if (_process is { HasExited: false })
        {
            _process.Kill(entireProcessTree: true);
            await _process.WaitForExitAsync();
        }

        _process?.Dispose();
    }

    [Theory]
    [InlineData("Write a Go function that parses an RFC 3339 timestamp.", TaskKind.Code)]
    [InlineData("Write a short poem about the first snow.", TaskKind.General)]
    [InlineData("What is the difference between a mutex and a semaphore? Just explain.", TaskKind.General)]
    public async Task ClassifyAsync_RealService_DecidesTheKind(string prompt, TaskKind expected)
    {
        using var classifier = new GrpcRequestClassifier(
            // The deadline is generous: this test is about the decision, and a loaded CI machine can stall a call for seconds.
            Options.Create(new ClassifierOptions { Timeout = TimeSpan.FromSeconds(30) }),
            new ConfigurationBuilder().AddInMemoryCollection(new Dictionary<string, string?> { ["services:classifier:grpc:0"] = _grpcUrl }).Build(),
            TimeProvider.System, NullLogger<GrpcRequestClassifier>.Instance);

        var kind = await classifier.ClassifyAsync([new ChatTurn("system", "You are a helpful assistant."), new ChatTurn("user", prompt)], TestContext.Current.CancellationToken);

        Assert.Equal(expected, kind);
    }

    private static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }
}
