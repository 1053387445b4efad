using System.ClientModel;
using System.Globalization;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using OpenAI;
using Platform.EngineSim.Cli;
using Platform.EngineSim.Engine;
using Platform.EngineSim.Extensions;
using Platform.EngineSim.Faults;
using Platform.EngineSim.Text;

namespace Platform.EngineSim.Tests.Fixtures;

/// <summary>
/// A real EngineSim listening on a dynamic port (Kestrel, in-process), built exactly as Program builds it
/// from a vLLM command line. The crash fault is recorded instead of ending the test host. Start one per test:
/// it takes a few tens of milliseconds.
/// </summary>
internal sealed class EngineSimServer : IAsyncDisposable
{
    private EngineSimServer(WebApplication app, Uri baseAddress, RecordingTerminator terminator)
    {
        App = app;
        BaseAddress = baseAddress;
        Terminator = terminator;
        // No response draining: disposing a half-read response closes the connection at once, as a client
        // that goes away does (the default drains for up to 2 s, which keeps the stream alive server-side).
        var handler = new SocketsHttpHandler { MaxResponseDrainSize = 0, ResponseDrainTimeout = TimeSpan.Zero };
        Http = new HttpClient(handler) { BaseAddress = baseAddress, Timeout = TimeSpan.FromSeconds(60) };
    }

    public WebApplication App { get; }

    public Uri BaseAddress { get; }

    /// <summary>A client on the server's address (no API key).</summary>
    public HttpClient Http { get; }

    public RecordingTerminator Terminator { get; }

    public IInferenceEngine Engine => App.Services.GetRequiredService<IInferenceEngine>();

    /// <summary>
    /// Starts EngineSim with <paramref name="commandLine"/> (vLLM's flags; --host/--port are added). With
    /// <paramref name="scripted"/> the engine is a <see cref="ScriptedEngine"/> instead of the real one.
    /// </summary>
    public static async Task<EngineSimServer> StartAsync(string commandLine, bool scripted = false, Action<IServiceCollection>? configure = null)
    {
        var args = commandLine.Split(' ', StringSplitOptions.RemoveEmptyEntries).Concat(["--host", "127.0.0.1", "--port", "0"]).ToArray();
        var settings = SimCommandLine.Parse(args, static _ => null);
        var terminator = new RecordingTerminator();

        var builder = WebApplication.CreateSlimBuilder(new WebApplicationOptions { Args = [] });
        builder.Logging.ClearProviders();
        builder.AddServiceDefaults();
        if (scripted)
        {
            builder.Services.AddSingleton<ISimTokenizer, SimTokenizer>();
            builder.Services.AddSingleton(sp => new ScriptedEngine(settings.Engine, settings.Faults, sp.GetRequiredService<ISimTokenizer>()));
            builder.Services.AddSingleton<IInferenceEngine>(sp => sp.GetRequiredService<ScriptedEngine>());
        }
        else
        {
            RealEngine.Add(builder.Services, settings);
        }

        builder.AddEngineSimApi(settings);
        builder.Services.RemoveAll<IProcessTerminator>();
        builder.Services.AddSingleton<IProcessTerminator>(terminator);
        configure?.Invoke(builder.Services);

        var app = builder.Build();
        app.MapEngineSimEndpoints();
        await app.StartAsync();
        var url = ReadyAnnouncer.ListeningUrls(app.Services.GetRequiredService<IServer>(), "127.0.0.1")[0];
        return new EngineSimServer(app, new Uri(url + "/"), terminator);
    }

    /// <summary>An official OpenAI SDK client pointed at this server's /v1.</summary>
    public OpenAIClient OpenAi(string apiKey = "EMPTY") =>
        new(new ApiKeyCredential(apiKey), new OpenAIClientOptions { Endpoint = new Uri(BaseAddress, "v1"), NetworkTimeout = TimeSpan.FromSeconds(60) });

    public async Task<string> MetricsAsync() => await Http.GetStringAsync("metrics", TestContext.Current.CancellationToken);

    /// <summary>The sum of a metric's samples (over every label set); 0 when absent.</summary>
    public async Task<double> MetricAsync(string name) => SumMetric(await MetricsAsync(), name);

    public static double SumMetric(string exposition, string name)
    {
        var sum = 0.0;
        foreach (var line in exposition.Split('\n'))
        {
            if (line.StartsWith('#') || !line.StartsWith(name, StringComparison.Ordinal))
            {
                continue;
            }

            var rest = line.AsSpan(name.Length);
            if (rest.Length == 0 || (rest[0] != '{' && rest[0] != ' '))
            {
                continue;
            }

            var value = line[(line.LastIndexOf(' ') + 1)..];
            sum += double.Parse(value, CultureInfo.InvariantCulture);
        }

        return sum;
    }

    /// <summary>Polls <paramref name="condition"/> until it holds or <paramref name="timeout"/> passes (then fails).</summary>
    public static async Task WaitUntilAsync(Func<Task<bool>> condition, TimeSpan timeout, string what)
    {
        var deadline = DateTime.UtcNow + timeout;
        while (!await condition())
        {
            if (DateTime.UtcNow > deadline)
            {
                Assert.Fail($"Timed out after {timeout.TotalSeconds:0.#} s waiting for {what}.");
            }

            await Task.Delay(20, TestContext.Current.CancellationToken);
        }
    }

    public async ValueTask DisposeAsync()
    {
        Http.Dispose();
        await App.StopAsync(CancellationToken.None);
        await App.DisposeAsync();
    }
}

/// <summary>Records the crash fault's exit instead of exiting.</summary>
internal sealed class RecordingTerminator : IProcessTerminator
{
    private int _exitCode = -1;

    public int? ExitCode => Volatile.Read(ref _exitCode) is var code and >= 0 ? code : null;

    public void Terminate(int exitCode) => Interlocked.CompareExchange(ref _exitCode, exitCode, -1);
}
