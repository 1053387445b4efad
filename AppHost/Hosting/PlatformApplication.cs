using System.Net;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http.Json;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Platform.AppHost.Control;
using Platform.AppHost.Launch;
using Platform.AppHost.Options;
using Platform.AppHost.Orchestration;
using Platform.AppHost.Output;

namespace Platform.AppHost.Hosting;

/// <summary>
/// The AppHost: <c>PlatformApplication.CreateBuilder(args)</c>, declare resources, <c>Build().Run()</c>.
/// Runs every resource as a process, serves the control API, and stops everything on Ctrl+C or SIGTERM.
/// Exit codes: 0 after a normal stop, 1 when the platform cannot start, 2 for invalid options.
/// </summary>
internal sealed class PlatformApplication
{
    public const int ExitInvalidOptions = 2;
    public const int ExitCannotStart = 1;

    private readonly PlatformModel? _model;
    private readonly IReadOnlyList<string> _errors;
    private readonly int _errorExitCode;
    private readonly bool _help;
    private readonly TextWriter _output;
    private readonly TaskCompletionSource<Orchestrator> _orchestrator = new(TaskCreationOptions.RunContinuationsAsynchronously);

    internal PlatformApplication(PlatformModel? model, IReadOnlyList<string> errors, bool help, TextWriter output, int errorExitCode = ExitCannotStart)
    {
        _model = model;
        _errors = errors;
        _errorExitCode = errorExitCode;
        _help = help;
        _output = output;
    }

    /// <summary>The decided topology (null when the declaration or the options are invalid).</summary>
    internal PlatformModel? Model => _model;

    internal IReadOnlyList<string> Errors => _errors;

    /// <summary>The orchestrator of the running application, once <see cref="RunAsync"/> has created it.</summary>
    internal Task<Orchestrator> Orchestrator => _orchestrator.Task;

    public static PlatformApplicationBuilder CreateBuilder(string[] args) => CreateBuilder(args, Console.Out, baseDirectory: null);

    internal static PlatformApplicationBuilder CreateBuilder(string[] args, TextWriter output, string? baseDirectory) =>
        new(AppHostOptionsLoader.Load(args, baseDirectory), output);

    public void Run() => Environment.ExitCode = RunAsync().GetAwaiter().GetResult();

    public async Task<int> RunAsync(CancellationToken cancellationToken = default)
    {
        if (_help)
        {
            await _output.WriteLineAsync(AppHostCommandLine.Usage).ConfigureAwait(false);
            return 0;
        }

        if (_model is null)
        {
            await Console.Error.WriteLineAsync("apphost: cannot start the platform:").ConfigureAwait(false);
            foreach (var error in _errors)
            {
                await Console.Error.WriteLineAsync("  - " + error).ConfigureAwait(false);
            }

            return _errorExitCode;
        }

        var console = new ConsoleMux(_output, ReferenceEquals(_output, Console.Out) && ConsoleMux.ShouldColor());
        var builder = WebApplication.CreateSlimBuilder(new WebApplicationOptions
        {
            Args = [],
            ContentRootPath = AppContext.BaseDirectory,
            EnvironmentName = Environments.Production,
        });
        builder.Logging.ClearProviders();
        builder.Logging.AddProvider(new MuxLoggerProvider(console));
        builder.Logging.SetMinimumLevel(LogLevel.Information);
        builder.Logging.AddFilter("Microsoft", LogLevel.Warning);
        builder.WebHost.UseKestrel(kestrel => kestrel.Listen(IPAddress.Loopback, _model.Topology.ControlPort));
        builder.Services.AddSingleton(_model);
        builder.Services.AddSingleton(console);
        builder.Services.AddSingleton(TimeProvider.System);
        builder.Services.AddSingleton<Orchestrator>();
        builder.Services.AddHostedService(sp => sp.GetRequiredService<Orchestrator>());
        builder.Services.Configure<HostOptions>(o =>
        {
            // Graceful stop of every level, each bounded by the stop timeout, plus the clean-up after it.
            o.ShutdownTimeout = TimeSpan.FromMilliseconds(_model.Options.Supervision.StopTimeoutMs * 4) + TimeSpan.FromSeconds(15);
            o.BackgroundServiceExceptionBehavior = BackgroundServiceExceptionBehavior.StopHost;
        });
        builder.Services.Configure<JsonOptions>(o => o.SerializerOptions.TypeInfoResolverChain.Insert(0, ControlJsonContext.Default));

        Environment.ExitCode = 0;
        await using var app = builder.Build();
        app.MapControlApi();
        var orchestrator = app.Services.GetRequiredService<Orchestrator>();
        _orchestrator.TrySetResult(orchestrator);
        try
        {
            await app.RunAsync(cancellationToken).ConfigureAwait(false);
        }
        catch (IOException ex)
        {
            await Console.Error.WriteLineAsync($"apphost: the control API cannot listen on {_model.Topology.ControlUrl}: {ex.Message}").ConfigureAwait(false);
            await orchestrator.ShutdownAsync().ConfigureAwait(false);
            return ExitCannotStart;
        }

        return Environment.ExitCode;
    }
}
