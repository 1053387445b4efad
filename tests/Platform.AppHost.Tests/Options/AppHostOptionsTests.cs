using Platform.AppHost.Options;

namespace Platform.AppHost.Tests.Options;

public sealed class AppHostOptionsTests
{
    private static readonly Dictionary<string, string?> NoEnvironment = [];

    private static OptionsLoadResult Load(params string[] args) =>
        AppHostOptionsLoader.Load(args, baseDirectory: Path.GetTempPath(), environment: NoEnvironment);

    [Fact]
    public void Load_NoArguments_GivesFixedLocalDefaults()
    {
        var result = Load();

        Assert.True(result.IsValid, string.Join("; ", result.Errors));
        Assert.False(result.Options.DynamicPorts);
        Assert.Equal(18000, result.Options.ControlPort);
        Assert.Equal("sim", result.Options.Engines);
        Assert.Equal("auto", result.Options.Redis);
        Assert.Null(result.Options.OtlpEndpoint);
    }

    [Fact]
    public void Load_EveryOption_BindsToItsSetting()
    {
        var result = Load(
            "--dynamic-ports", "--control-port", "0", "--engines=vllm", "--engine-speedup", "12.5", "--seed", "7",
            "--otlp-endpoint", "http://127.0.0.1:4318", "--otlp-protocol", "http/protobuf", "--redis", "garnet",
            "--environment", "Staging", "--vllm-image", "vllm/vllm-openai:v0.11.0", "--stop-timeout-ms", "2000");

        Assert.True(result.IsValid, string.Join("; ", result.Errors));
        var o = result.Options;
        Assert.True(o.DynamicPorts);
        Assert.Equal(0, o.ControlPort);
        Assert.Equal("vllm", o.Engines);
        Assert.Equal(12.5, o.EngineSpeedup);
        Assert.Equal(7, o.Seed);
        Assert.Equal("http://127.0.0.1:4318", o.OtlpEndpoint);
        Assert.Equal("http/protobuf", o.OtlpProtocol);
        Assert.Equal("garnet", o.Redis);
        Assert.Equal("Staging", o.Environment);
        Assert.Equal("vllm/vllm-openai:v0.11.0", o.Vllm.Image);
        Assert.Equal(2000, o.Supervision.StopTimeoutMs);
    }

    [Fact]
    public void Load_GatewayOptions_DefaultsAndOverrides()
    {
        var defaults = Load().Options;
        Assert.Equal(8080, defaults.GatewayHttpPort);
        Assert.Equal(8081, defaults.GatewayGrpcPort);
        Assert.Null(defaults.ApiKey);

        var result = Load("--gateway-http-port", "9080", "--gateway-grpc-port=9081", "--api-key", "sk-dev-mine");
        Assert.True(result.IsValid, string.Join("; ", result.Errors));
        Assert.Equal(9080, result.Options.GatewayHttpPort);
        Assert.Equal(9081, result.Options.GatewayGrpcPort);
        Assert.Equal("sk-dev-mine", result.Options.ApiKey);

        var bad = Load("--gateway-http-port", "70000");
        Assert.False(bad.IsValid);
        Assert.Contains(bad.Errors, e => e.Contains("GatewayHttpPort", StringComparison.Ordinal));
    }

    [Fact]
    public void DevelopmentApiKey_GivenOrRandomPerRun()
    {
        Assert.Equal("sk-dev-mine", Platform.AppHost.Hosting.DevelopmentApiKey.From(Load("--api-key", "sk-dev-mine").Options));
        var first = Platform.AppHost.Hosting.DevelopmentApiKey.From(Load().Options);
        var second = Platform.AppHost.Hosting.DevelopmentApiKey.From(Load().Options);
        Assert.StartsWith("sk-dev-", first, StringComparison.Ordinal);
        Assert.Equal(39, first.Length);
        Assert.NotEqual(first, second);
    }

    [Fact]
    public void Load_SeveralBadValues_ReportsEveryOneNamingItsSetting()
    {
        var result = Load("--bogus", "--control-port", "abc", "--engines", "tgi", "--engine-speedup", "-1", "--otlp-endpoint", "collector:4317", "--seed");

        Assert.False(result.IsValid);
        Assert.Equal(
            [
                "unknown option '--bogus' (see --help)",
                "option '--seed' needs a value",
                "Failed to convert configuration value 'abc' at 'AppHost:ControlPort' to type 'System.Int32'.",
                "AppHost:Engines = 'tgi': use sim or vllm.",
                "AppHost:EngineSpeedup = '-1': The field EngineSpeedup must be between 0.01 and 10000.",
                "AppHost:OtlpEndpoint (--otlp-endpoint): 'collector:4317' is not an absolute http(s) URL.",
            ],
            result.Errors);
    }

    [Fact]
    public void Load_OtlpEndpointInEnvironment_IsUsedWhenNoOptionGiven()
    {
        var environment = new Dictionary<string, string?>
        {
            ["OTEL_EXPORTER_OTLP_ENDPOINT"] = "http://127.0.0.1:18889",
            ["OTEL_EXPORTER_OTLP_PROTOCOL"] = "http/protobuf",
        };

        var fromEnvironment = AppHostOptionsLoader.Load([], Path.GetTempPath(), environment);
        var fromOption = AppHostOptionsLoader.Load(["--otlp-endpoint", "http://127.0.0.1:4317"], Path.GetTempPath(), environment);

        Assert.Equal("http://127.0.0.1:18889", fromEnvironment.Options.OtlpEndpoint);
        Assert.Equal("http/protobuf", fromEnvironment.Options.OtlpProtocol);
        Assert.Equal("http://127.0.0.1:4317", fromOption.Options.OtlpEndpoint);
        Assert.Equal("grpc", fromOption.Options.OtlpProtocol);
    }

    [Fact]
    public void Load_AppSettingsJson_IsOverriddenByTheCommandLine()
    {
        var directory = Directory.CreateTempSubdirectory("apphost-options-");
        try
        {
            File.WriteAllText(Path.Combine(directory.FullName, "appsettings.json"),
                """{ "AppHost": { "ControlPort": 19000, "EngineSpeedup": 4, "Supervision": { "StopTimeoutMs": 1500 } } }""");

            var result = AppHostOptionsLoader.Load(["--engine-speedup", "8"], directory.FullName, NoEnvironment);

            Assert.True(result.IsValid, string.Join("; ", result.Errors));
            Assert.Equal(19000, result.Options.ControlPort);
            Assert.Equal(8, result.Options.EngineSpeedup);
            Assert.Equal(1500, result.Options.Supervision.StopTimeoutMs);
        }
        finally
        {
            directory.Delete(recursive: true);
        }
    }

    [Fact]
    public void Validate_CrossFieldRules_ReportEachViolation()
    {
        var options = new AppHostOptions { Engines = "vllm" };
        options.Vllm.Executable = "";
        options.Supervision.RestartInitialDelayMs = 10_000;
        options.Supervision.RestartMaxDelayMs = 1_000;
        options.ControlPort = options.EnginePortBase + 3;

        var errors = AppHostOptionsLoader.Validate(options);

        Assert.Equal(3, errors.Count);
        Assert.Contains(errors, e => e.Contains("RestartMaxDelayMs", StringComparison.Ordinal));
        Assert.Contains(errors, e => e.Contains("--engines vllm needs", StringComparison.Ordinal));
        Assert.Contains(errors, e => e.Contains("engines' port range", StringComparison.Ordinal));
    }

    [Fact]
    public void Parse_Help_IsRecognised()
    {
        Assert.True(AppHostCommandLine.Parse(["--help"]).Help);
        Assert.Contains("--dynamic-ports", AppHostCommandLine.Usage, StringComparison.Ordinal);
    }
}
