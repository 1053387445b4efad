using System.Text;
using Platform.AppHost.Hosting;
using Platform.AppHost.Orchestration;

namespace Platform.AppHost.Tests.Support;

/// <summary>An AppHost run inside the test process (its resources are still real processes), with its output captured.</summary>
internal sealed class InProcessPlatform : IAsyncDisposable
{
    private readonly StringBuilder _buffer = new();
    private readonly CancellationTokenSource _stop = new();
    private readonly Task<int> _run;

    private InProcessPlatform(Action<PlatformApplicationBuilder> declare, string[] args)
    {
        var writer = TextWriter.Synchronized(new StringWriter(_buffer));
        var builder = PlatformApplication.CreateBuilder(["--dynamic-ports", "--stop-timeout-ms", "3000", .. args], writer, baseDirectory: Path.GetTempPath());
        declare(builder);
        Application = builder.Build();
        Assert.True(Application.Errors.Count == 0, string.Join("; ", Application.Errors));
        _run = Task.Run(() => Application.RunAsync(_stop.Token));
    }

    public PlatformApplication Application { get; }

    public Orchestrator Orchestrator { get; private set; } = null!;

    public string ReadyLine { get; private set; } = "";

    public string Output
    {
        get
        {
            lock (_buffer)
            {
                return _buffer.ToString();
            }
        }
    }

    public static async Task<InProcessPlatform> StartAsync(Action<PlatformApplicationBuilder> declare, TimeSpan readyTimeout, params string[] args)
    {
        var platform = new InProcessPlatform(declare, args);
        try
        {
            platform.Orchestrator = await platform.Application.Orchestrator.WaitAsync(readyTimeout);
            platform.ReadyLine = await platform.Orchestrator.Ready.WaitAsync(readyTimeout);
            return platform;
        }
        catch (Exception ex) when (ex is TimeoutException)
        {
            var output = platform.Output;
            await platform.DisposeAsync();
            throw new TimeoutException("The platform was not ready in time. Output:\n" + output, ex);
        }
    }

    public ReplicaSnapshot Replica(string id) => Orchestrator.FindSupervisor(id)!.Snapshot();

    /// <summary>Stops the platform as Ctrl+C would and returns its exit code.</summary>
    public async Task<int> StopAsync()
    {
        await _stop.CancelAsync();
        return await _run.WaitAsync(TimeSpan.FromSeconds(60));
    }

    public async ValueTask DisposeAsync()
    {
        if (!_run.IsCompleted)
        {
            await StopAsync();
        }

        _stop.Dispose();
    }
}
