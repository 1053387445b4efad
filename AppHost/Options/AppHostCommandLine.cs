using System.Globalization;

namespace Platform.AppHost.Options;

/// <summary>
/// The AppHost's command line: each option maps to one configuration key of <see cref="AppHostOptions"/>.
/// <c>--name value</c> and <c>--name=value</c> both work; switches take no value. Anything else is an error
/// (a typo must not silently run a different platform).
/// </summary>
internal static class AppHostCommandLine
{
    private sealed record OptionSpec(string Name, string Key, string Help, bool IsSwitch = false);

    private static readonly OptionSpec[] Specs =
    [
        new("--dynamic-ports", "DynamicPorts", "every port (control API included) picked by the OS", IsSwitch: true),
        new("--control-port", "ControlPort", "port of the control API on 127.0.0.1 (default 18000; 0 = picked by the OS)"),
        new("--engines", "Engines", "sim (EngineSim, default) or vllm"),
        new("--engine-speedup", "EngineSpeedup", "EngineSim --sim-speedup factor (default 1)"),
        new("--seed", "Seed", "base of every engine replica's --sim-seed (default 42)"),
        new("--otlp-endpoint", "OtlpEndpoint", "OTLP endpoint for every resource (default: $OTEL_EXPORTER_OTLP_ENDPOINT)"),
        new("--otlp-protocol", "OtlpProtocol", "grpc (default) or http/protobuf"),
        new("--gateway-http-port", "GatewayHttpPort", "the gateway's HTTP port: OpenAI API, health, metrics (default 8080)"),
        new("--gateway-grpc-port", "GatewayGrpcPort", "the gateway's gRPC port (default 8081)"),
        new("--api-key", "ApiKey", "the development API key (default: a random sk-dev-... key per run, shown when ready)"),
        new("--redis", "Redis", "auto (default: redis-server from PATH, else garnet), redis-server or garnet"),
        new("--environment", "Environment", "ASPNETCORE_ENVIRONMENT of every resource (default Development)"),
        new("--vllm-executable", "Vllm:Executable", "vllm executable for --engines vllm (default vllm)"),
        new("--vllm-image", "Vllm:Image", "container image for --engines vllm (runs docker instead of the executable)"),
        new("--stop-timeout-ms", "Supervision:StopTimeoutMs", "grace between SIGTERM and kill (default 5000)"),
    ];

    /// <summary>The help text printed by --help.</summary>
    public static string Usage
    {
        get
        {
            var lines = new List<string> { "Usage: dotnet run --project AppHost -- [options]", "" };
            foreach (var spec in Specs)
            {
                var left = spec.IsSwitch ? spec.Name : spec.Name + " VALUE";
                lines.Add(string.Create(CultureInfo.InvariantCulture, $"  {left,-26} {spec.Help}"));
            }

            lines.Add("  --help                     this text");
            lines.Add("");
            lines.Add("Every option is also a setting of section AppHost in appsettings.json.");
            return string.Join(System.Environment.NewLine, lines);
        }
    }

    /// <summary>Parses <paramref name="args"/> into configuration keys (prefixed with the section) and errors.</summary>
    public static CommandLineResult Parse(IReadOnlyList<string> args)
    {
        var values = new Dictionary<string, string?>(StringComparer.OrdinalIgnoreCase);
        var errors = new List<string>();
        var help = false;
        for (var i = 0; i < args.Count; i++)
        {
            var arg = args[i];
            if (arg is "--help" or "-h" or "-?")
            {
                help = true;
                continue;
            }

            var name = arg;
            string? inlineValue = null;
            var equals = arg.IndexOf('=', StringComparison.Ordinal);
            if (arg.StartsWith("--", StringComparison.Ordinal) && equals > 0)
            {
                name = arg[..equals];
                inlineValue = arg[(equals + 1)..];
            }

            var spec = Array.Find(Specs, s => string.Equals(s.Name, name, StringComparison.Ordinal));
            if (spec is null)
            {
                errors.Add($"unknown option '{arg}' (see --help)");
                continue;
            }

            string? value;
            if (spec.IsSwitch)
            {
                value = inlineValue ?? "true";
            }
            else if (inlineValue is not null)
            {
                value = inlineValue;
            }
            else if (i + 1 < args.Count && !args[i + 1].StartsWith("--", StringComparison.Ordinal))
            {
                value = args[++i];
            }
            else
            {
                errors.Add($"option '{spec.Name}' needs a value");
                continue;
            }

            values[AppHostOptions.SectionName + ":" + spec.Key] = value;
        }

        return new CommandLineResult(values, errors, help);
    }
}

internal sealed record CommandLineResult(IReadOnlyDictionary<string, string?> Values, IReadOnlyList<string> Errors, bool Help);
