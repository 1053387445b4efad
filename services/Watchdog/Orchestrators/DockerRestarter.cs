using System.Diagnostics;
using System.Globalization;
using Microsoft.Extensions.Options;
using Platform.Fleet.Catalog;

namespace Platform.Watchdog.Orchestrators;

/// <summary>
/// The docker CLI: <c>docker restart --time N {container}</c>. The container keeps its port mappings, so the engine
/// comes back on the same endpoint. The command's exit code decides; its error output goes into the message.
/// </summary>
internal sealed class DockerRestarter(IOptions<OrchestratorOptions> options) : IEngineRestarter
{
    public const string KindName = "docker";

    private readonly DockerRestarterOptions _options = options.Value.Docker;

    public string Name => KindName;

    public string Container(EngineInfo engine) => _options.Container.Replace("{engine}", engine.Id, StringComparison.Ordinal);

    public async Task RestartAsync(EngineInfo engine, CancellationToken cancellationToken)
    {
        var container = Container(engine);
        var info = new ProcessStartInfo(_options.Executable)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        info.ArgumentList.Add("restart");
        info.ArgumentList.Add("--time");
        info.ArgumentList.Add(_options.StopTimeoutSeconds.ToString(CultureInfo.InvariantCulture));
        info.ArgumentList.Add(container);

        Process process;
        try
        {
            process = Process.Start(info) ?? throw new EngineRestartException($"{_options.Executable} did not start");
        }
        catch (System.ComponentModel.Win32Exception ex)
        {
            throw new EngineRestartException($"{_options.Executable} cannot be run: {ex.Message}", ex);
        }

        using (process)
        {
            var stdout = process.StandardOutput.ReadToEndAsync(cancellationToken);
            var stderr = process.StandardError.ReadToEndAsync(cancellationToken);
            try
            {
                await process.WaitForExitAsync(cancellationToken).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                process.Kill(entireProcessTree: true);
                throw;
            }

            var error = (await stderr.ConfigureAwait(false)).Trim();
            await stdout.ConfigureAwait(false);
            if (process.ExitCode != 0)
            {
                throw new EngineRestartException(string.Create(CultureInfo.InvariantCulture,
                    $"{_options.Executable} restart {container} exited {process.ExitCode}: {AppHostRestarter.Shorten(error)}"));
            }
        }
    }
}
