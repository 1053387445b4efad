namespace Platform.EngineSim.Cli;

/// <summary>
/// A command line EngineSim cannot run with. <see cref="Exception.Message"/> is one line that names the flag;
/// the process prints it and exits with <see cref="ExitCode"/>, as argparse does for <c>vllm serve</c>.
/// </summary>
internal sealed class CommandLineException(string flag, string problem)
    : Exception(flag.Length == 0 ? $"error: {problem}" : $"error: argument {flag}: {problem}")
{
    /// <summary>argparse's exit status for usage errors.</summary>
    public const int ExitCode = 2;

    /// <summary>The flag at fault ("" when the problem is not one flag's, e.g. a stray argument).</summary>
    public string Flag { get; } = flag;
}
