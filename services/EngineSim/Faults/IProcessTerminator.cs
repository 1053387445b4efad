using System.Runtime.InteropServices;

namespace Platform.EngineSim.Faults;

/// <summary>
/// Ends the process for the crashAfterTokens fault. Injectable so in-process tests observe the crash instead
/// of losing their test host.
/// </summary>
internal interface IProcessTerminator
{
    /// <summary>Exits with <paramref name="exitCode"/>; the real implementation does not return.</summary>
    void Terminate(int exitCode);
}

/// <summary>
/// Exits at once, the way the kernel's OOM killer ends a vLLM worker (137 = 128 + SIGKILL). On Unix this is
/// <c>_exit</c>: <see cref="Environment.Exit"/> would run the host's graceful shutdown, which waits for the
/// open streams to finish, and a crash does not wait.
/// </summary>
internal sealed class EnvironmentProcessTerminator : IProcessTerminator
{
    public void Terminate(int exitCode)
    {
        Console.Out.Flush();
        Console.Error.Flush();
        if (OperatingSystem.IsLinux() || OperatingSystem.IsMacOS() || OperatingSystem.IsFreeBSD())
        {
            ExitImmediately(exitCode);
        }

        Environment.Exit(exitCode);
    }

    [DllImport("libc", EntryPoint = "_exit")]
    private static extern void ExitImmediately(int status);
}
