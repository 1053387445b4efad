using System.ComponentModel.DataAnnotations;
using System.Globalization;
using Microsoft.Extensions.Configuration;

namespace Platform.AppHost.Options;

/// <summary>
/// appsettings.json (next to the AppHost's assembly), then the command line, bound to <see cref="AppHostOptions"/>
/// and validated; every error is reported at once, each naming its setting.
/// </summary>
internal static class AppHostOptionsLoader
{
    public static OptionsLoadResult Load(IReadOnlyList<string> args, string? baseDirectory = null, IReadOnlyDictionary<string, string?>? environment = null)
    {
        var commandLine = AppHostCommandLine.Parse(args);
        var errors = new List<string>(commandLine.Errors);
        var options = new AppHostOptions();
        var unusable = new Dictionary<string, string?>(StringComparer.OrdinalIgnoreCase);
        try
        {
            // The binder stops at the first value it cannot convert; report it, drop it, bind again, so every
            // bad value is reported in one go.
            for (var attempt = 0; attempt < 64; attempt++)
            {
                var configuration = new ConfigurationBuilder()
                    .SetBasePath(baseDirectory ?? AppContext.BaseDirectory)
                    .AddJsonFile("appsettings.json", optional: true, reloadOnChange: false)
                    .AddInMemoryCollection(commandLine.Values)
                    .AddInMemoryCollection(unusable)
                    .Build();
                options = new AppHostOptions();
                try
                {
                    configuration.GetSection(AppHostOptions.SectionName).Bind(options);
                    break;
                }
                catch (InvalidOperationException ex) when (UnconvertibleKey(ex) is { } key && !unusable.ContainsKey(key))
                {
                    errors.Add(ex.Message);
                    unusable[key] = null;
                }
            }
        }
        catch (InvalidOperationException ex)
        {
            errors.Add(ex.Message);
        }
        catch (Exception ex) when (ex is InvalidDataException or FormatException)
        {
            errors.Add($"appsettings.json: {ex.Message}");
        }

        if (string.IsNullOrWhiteSpace(options.OtlpEndpoint))
        {
            options.OtlpEndpoint = Lookup(environment, "OTEL_EXPORTER_OTLP_ENDPOINT");
            var protocol = Lookup(environment, "OTEL_EXPORTER_OTLP_PROTOCOL");
            if (!string.IsNullOrWhiteSpace(protocol) && !commandLine.Values.ContainsKey("AppHost:OtlpProtocol"))
            {
                options.OtlpProtocol = protocol;
            }
        }

        // A value that could not be converted is reported once, not again as out of range.
        errors.AddRange(Validate(options).Where(e => !unusable.Keys.Any(k => e.StartsWith(k + " ", StringComparison.OrdinalIgnoreCase))));
        return new OptionsLoadResult(options, errors, commandLine.Help);
    }

    /// <summary>Data annotations on every section, then the rules that span settings.</summary>
    public static IReadOnlyList<string> Validate(AppHostOptions options)
    {
        var errors = new List<string>();
        ValidateSection(options, AppHostOptions.SectionName, errors);
        ValidateSection(options.Supervision, AppHostOptions.SectionName + ":Supervision", errors);
        ValidateSection(options.Vllm, AppHostOptions.SectionName + ":Vllm", errors);

        if (!string.IsNullOrWhiteSpace(options.OtlpEndpoint)
            && (!Uri.TryCreate(options.OtlpEndpoint, UriKind.Absolute, out var otlp) || (otlp.Scheme != Uri.UriSchemeHttp && otlp.Scheme != Uri.UriSchemeHttps)))
        {
            errors.Add($"AppHost:OtlpEndpoint (--otlp-endpoint): '{options.OtlpEndpoint}' is not an absolute http(s) URL.");
        }

        if (options.Supervision.RestartMaxDelayMs < options.Supervision.RestartInitialDelayMs)
        {
            errors.Add("AppHost:Supervision:RestartMaxDelayMs must be at least RestartInitialDelayMs.");
        }

        if (options.Supervision.StartupProbeIntervalMs > options.Supervision.StartupTimeoutMs)
        {
            errors.Add("AppHost:Supervision:StartupProbeIntervalMs must be at most StartupTimeoutMs.");
        }

        if (options.Engines == "vllm" && string.IsNullOrWhiteSpace(options.Vllm.Image) && string.IsNullOrWhiteSpace(options.Vllm.Executable))
        {
            errors.Add("AppHost:Vllm: --engines vllm needs Vllm:Executable (--vllm-executable) or Vllm:Image (--vllm-image).");
        }

        if (!options.DynamicPorts && options.ControlPort != 0
            && options.ControlPort >= options.EnginePortBase && options.ControlPort < options.EnginePortBase + 100)
        {
            errors.Add($"AppHost:ControlPort {options.ControlPort} falls in the engines' port range starting at EnginePortBase {options.EnginePortBase}.");
        }

        return errors;
    }

    private static void ValidateSection(object section, string path, List<string> errors)
    {
        var results = new List<ValidationResult>();
        Validator.TryValidateObject(section, new ValidationContext(section), results, validateAllProperties: true);
        foreach (var result in results)
        {
            foreach (var member in result.MemberNames)
            {
                var value = section.GetType().GetProperty(member)?.GetValue(section);
                errors.Add(string.Create(CultureInfo.InvariantCulture, $"{path}:{member} = '{value}': {result.ErrorMessage}"));
            }
        }
    }

    /// <summary>The key in "Failed to convert configuration value 'x' at 'AppHost:ControlPort' to type ...".</summary>
    private static string? UnconvertibleKey(InvalidOperationException ex)
    {
        const string marker = "' at '";
        var start = ex.Message.IndexOf(marker, StringComparison.Ordinal);
        if (start < 0)
        {
            return null;
        }

        start += marker.Length;
        var end = ex.Message.IndexOf('\'', start);
        return end > start ? ex.Message[start..end] : null;
    }

    private static string? Lookup(IReadOnlyDictionary<string, string?>? environment, string name) =>
        environment is null ? System.Environment.GetEnvironmentVariable(name) : environment.GetValueOrDefault(name);
}

internal sealed record OptionsLoadResult(AppHostOptions Options, IReadOnlyList<string> Errors, bool Help)
{
    public bool IsValid => Errors.Count == 0;
}
