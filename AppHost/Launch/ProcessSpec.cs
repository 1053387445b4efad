namespace Platform.AppHost.Launch;

/// <summary>
/// Exactly what is started for one replica: the executable, its arguments (passed as an argument vector, never
/// through a shell, so JSON arguments need no quoting) and the environment the replica gets on top of the
/// AppHost's own (whose URL and telemetry variables are removed first, see <see cref="InheritedVariablesRemoved"/>).
/// </summary>
internal sealed record ProcessSpec(
    string FileName,
    IReadOnlyList<string> Arguments,
    IReadOnlyDictionary<string, string> Environment,
    string? WorkingDirectory = null)
{
    /// <summary>
    /// The AppHost's own variables that would change where or how a child listens or exports; a child gets
    /// them only through the contract.
    /// </summary>
    public static readonly string[] InheritedVariablesRemoved =
    [
        "ASPNETCORE_URLS", "ASPNETCORE_HTTP_PORTS", "ASPNETCORE_HTTPS_PORTS", "DOTNET_URLS", "URLS",
        "OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_PROTOCOL", "OTEL_EXPORTER_OTLP_HEADERS",
        "OTEL_SERVICE_NAME", "OTEL_RESOURCE_ATTRIBUTES",
    ];

    /// <summary>The command line as a person would type it (arguments with spaces or quotes single-quoted).</summary>
    public string DisplayCommandLine =>
        string.Join(' ', new[] { FileName }.Concat(Arguments).Select(Quote));

    private static string Quote(string arg) =>
        arg.Length > 0 && arg.All(c => char.IsAsciiLetterOrDigit(c) || c is '-' or '_' or '.' or '/' or ':' or '=' or ',' or '@' or '+')
            ? arg
            : "'" + arg.Replace("'", "'\\''", StringComparison.Ordinal) + "'";
}
