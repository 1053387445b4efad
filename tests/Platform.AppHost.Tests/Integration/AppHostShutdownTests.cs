using Platform.AppHost.Orchestration;
using Platform.AppHost.Tests.Support;

namespace Platform.AppHost.Tests.Integration;

/// <summary>Ctrl+C (SIGINT) or SIGTERM stops the whole platform: exit code 0 and no process left behind.</summary>
[Collection(ProcessCollection.Name)]
public sealed class AppHostShutdownTests
{
    [Theory]
    [InlineData(ProcessTree.SigInt)]
    [InlineData(ProcessTree.SigTerm)]
    public async Task Signal_WhilePlatformRuns_ExitsZeroAndLeavesNoProcessBehind(int signal)
    {
        await using var appHost = AppHostProcess.Start("--stop-timeout-ms", "5000");
        await appHost.WaitForReadyAsync(PlatformFixture.ReadyTimeout);
        var started = ProcessTree.Descendants(appHost.Pid);
        Assert.True(started.Count >= 5, $"expected redis and four engines under the AppHost, found {started.Count} processes");

        appHost.Signal(signal);
        var exitCode = await appHost.WaitForExitAsync(TimeSpan.FromSeconds(60));

        Assert.True(exitCode == 0, $"exit code {exitCode}. Output:\n{appHost.Output}");
        var alive = started.Where(ProcessTree.IsAlive).Select(p => p.Pid).ToList();
        Assert.True(alive.Count == 0, $"still alive: {string.Join(", ", alive)}");
        Assert.Contains("Every resource stopped", appHost.Output, StringComparison.Ordinal);
    }

    [Fact]
    public async Task CtrlC_ToTheWholeProcessGroup_ExitsZeroWithoutRestartingAnything()
    {
        Assert.SkipUnless(File.Exists(AppHostProcess.SetSid), "setsid(1) is not installed");
        await using var appHost = AppHostProcess.Start(ownProcessGroup: true, "--stop-timeout-ms", "5000");
        await appHost.WaitForReadyAsync(PlatformFixture.ReadyTimeout);
        var started = ProcessTree.Descendants(appHost.Pid);

        // A terminal's Ctrl+C: every process of the group gets SIGINT at once, children included.
        appHost.SignalGroup(ProcessTree.SigInt);
        var exitCode = await appHost.WaitForExitAsync(TimeSpan.FromSeconds(60));

        Assert.True(exitCode == 0, $"exit code {exitCode}. Output:\n{appHost.Output}");
        var alive = started.Where(ProcessTree.IsAlive).Select(p => p.Pid).ToList();
        Assert.True(alive.Count == 0, $"still alive: {string.Join(", ", alive)}");
        var lines = appHost.Lines.ToList();
        var afterReady = lines.Skip(lines.FindIndex(l => l.StartsWith("Platform ready", StringComparison.Ordinal)) + 1).ToList();
        Assert.DoesNotContain(afterReady, l => l.Contains(" restarts in ", StringComparison.Ordinal) || l.Contains(" started, pid", StringComparison.Ordinal)
            || l.Contains("exited with code", StringComparison.Ordinal));
    }
}
