using Platform.AppHost.Hosting;
using Platform.AppHost.Launch;
using Platform.AppHost.Tests.Support;

namespace Platform.AppHost.Tests.Launch;

public sealed class EnvironmentContractTests
{
    private static (Topology Topology, ReplicaPlan Gateway) GatewayTopology(Action<IResourceBuilder<ProjectResource>> configure)
    {
        var builder = TestTopology.Builder();
        var redis = builder.AddRedis("redis");
        var classifier = builder.AddProject("classifier", "/opt/platform/Platform.Classifier.dll").WithHttpEndpoint().WithGrpcEndpoint().WithReplicas(2);
        var gateway = builder.AddProject("gateway", "/opt/platform/Platform.Gateway.dll").WithHttpEndpoint().WithGrpcEndpoint();
        configure(gateway.WithReference(redis).WithReference(classifier));
        var topology = TestTopology.Plan(builder, firstPort: 20000);
        return (topology, topology.FindReplica("gateway-0")!);
    }

    [Fact]
    public void For_ProjectWithReferences_InjectsAspireVariablesExactly()
    {
        var (topology, gateway) = GatewayTopology(_ => { });

        var env = EnvironmentContract.For(gateway, topology, TestTopology.Options());

        // redis 20000; classifier-0 http 20001 grpc 20002; classifier-1 http 20003 grpc 20004; gateway 20005/20006.
        Assert.Equal(new Dictionary<string, string>
        {
            ["ASPNETCORE_ENVIRONMENT"] = "Development",
            ["OTEL_SERVICE_NAME"] = "gateway",
            ["OTEL_RESOURCE_ATTRIBUTES"] = "service.instance.id=gateway-0",
            ["Kestrel__Endpoints__http__Url"] = "http://127.0.0.1:20005",
            ["Kestrel__Endpoints__grpc__Url"] = "http://127.0.0.1:20006",
            ["ConnectionStrings__redis"] = "127.0.0.1:20000",
            ["services__classifier__http__0"] = "http://127.0.0.1:20001",
            ["services__classifier__grpc__0"] = "http://127.0.0.1:20002",
            ["services__classifier__http__1"] = "http://127.0.0.1:20003",
            ["services__classifier__grpc__1"] = "http://127.0.0.1:20004",
        }, env);
    }

    [Fact]
    public void For_OtlpEndpointSet_ExportsEveryResourceWithItsOwnIdentity()
    {
        var (topology, gateway) = GatewayTopology(_ => { });
        var options = TestTopology.Options(o =>
        {
            o.OtlpEndpoint = "http://127.0.0.1:4317";
            o.OtlpProtocol = "grpc";
        });

        foreach (var replica in topology.Replicas)
        {
            var env = EnvironmentContract.For(replica, topology, options);
            Assert.Equal("http://127.0.0.1:4317", env["OTEL_EXPORTER_OTLP_ENDPOINT"]);
            Assert.Equal("grpc", env["OTEL_EXPORTER_OTLP_PROTOCOL"]);
            Assert.Equal(replica.Resource.Name, env["OTEL_SERVICE_NAME"]);
            Assert.Equal("service.instance.id=" + replica.Id, env["OTEL_RESOURCE_ATTRIBUTES"]);
        }

        Assert.Equal("service.instance.id=classifier-1", EnvironmentContract.For(topology.FindReplica("classifier-1")!, topology, options)["OTEL_RESOURCE_ATTRIBUTES"]);
        Assert.Equal("gateway", EnvironmentContract.For(gateway, topology, options)["OTEL_SERVICE_NAME"]);
    }

    [Fact]
    public void For_NoOtlpEndpoint_LeavesExportOff()
    {
        var (topology, gateway) = GatewayTopology(_ => { });

        var env = EnvironmentContract.For(gateway, topology, TestTopology.Options());

        Assert.DoesNotContain("OTEL_EXPORTER_OTLP_ENDPOINT", env.Keys);
        Assert.DoesNotContain("OTEL_EXPORTER_OTLP_PROTOCOL", env.Keys);
    }

    [Fact]
    public void For_WithEnvironment_OverridesTheContract()
    {
        var (topology, gateway) = GatewayTopology(g => g.WithEnvironment("ASPNETCORE_ENVIRONMENT", "Staging").WithEnvironment("Gateway__MaxRetries", "2"));

        var env = EnvironmentContract.For(gateway, topology, TestTopology.Options());

        Assert.Equal("Staging", env["ASPNETCORE_ENVIRONMENT"]);
        Assert.Equal("2", env["Gateway__MaxRetries"]);
    }

    [Fact]
    public void For_EngineReplica_GetsTelemetryIdentityButNoKestrelOverride()
    {
        var builder = TestTopology.Platform();
        var topology = TestTopology.Plan(builder);

        var env = EnvironmentContract.For(topology.FindReplica("enginegeneral-1")!, topology, TestTopology.Options());

        Assert.Equal("enginegeneral", env["OTEL_SERVICE_NAME"]);
        Assert.Equal("service.instance.id=enginegeneral-1", env["OTEL_RESOURCE_ATTRIBUTES"]);
        Assert.Equal("Development", env["ASPNETCORE_ENVIRONMENT"]);
        Assert.DoesNotContain(env.Keys, k => k.StartsWith("Kestrel__", StringComparison.Ordinal));
    }

    [Fact]
    public void For_ProjectWithFleet_ReferencesEveryEnginePoolAndCarriesTheCatalog()
    {
        var builder = TestTopology.Platform();
        builder.AddProject("healthscorer", "/opt/platform/Platform.HealthScorer.dll").WithHttpEndpoint().WithFleet();
        var topology = TestTopology.Plan(builder, firstPort: 20000);

        var env = EnvironmentContract.For(topology.FindReplica("healthscorer-0")!, topology, TestTopology.Options());

        // redis 20000, enginefallback-0 20001, enginegeneral-0/1 20002/20003, enginecode-0 20004.
        Assert.Equal("http://127.0.0.1:20001", env["services__enginefallback__http__0"]);
        Assert.Equal("http://127.0.0.1:20002", env["services__enginegeneral__http__0"]);
        Assert.Equal("http://127.0.0.1:20003", env["services__enginegeneral__http__1"]);
        Assert.Equal("http://127.0.0.1:20004", env["services__enginecode__http__0"]);
        Assert.Equal("enginegeneral", env["Fleet__Pools__1__Name"]);
        Assert.Equal("enginegeneral-1", env["Fleet__Pools__1__Engines__1__Id"]);
        Assert.DoesNotContain("ConnectionStrings__redis", env.Keys);
    }

    [Fact]
    public void For_ProjectWithControlApi_GetsTheControlUrlAndOthersDoNot()
    {
        var builder = TestTopology.Platform();
        builder.AddProject("watchdog", "/opt/platform/Platform.Watchdog.dll").WithHttpEndpoint().WithFleet().WithControlApi();
        builder.AddProject("healthscorer", "/opt/platform/Platform.HealthScorer.dll").WithHttpEndpoint().WithFleet();
        var topology = TestTopology.Plan(builder, firstPort: 20000);

        var watchdog = EnvironmentContract.For(topology.FindReplica("watchdog-0")!, topology, TestTopology.Options());
        var healthscorer = EnvironmentContract.For(topology.FindReplica("healthscorer-0")!, topology, TestTopology.Options());

        Assert.Equal(topology.ControlUrl, watchdog["AppHost__ControlUrl"]);
        Assert.StartsWith("http://127.0.0.1:", watchdog["AppHost__ControlUrl"], StringComparison.Ordinal);
        Assert.DoesNotContain("AppHost__ControlUrl", healthscorer.Keys);
    }
}
