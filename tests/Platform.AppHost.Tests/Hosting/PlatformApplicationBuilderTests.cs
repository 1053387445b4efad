using Platform.AppHost.Hosting;
using Platform.AppHost.Tests.Support;

namespace Platform.AppHost.Tests.Hosting;

public sealed class PlatformApplicationBuilderTests
{
    [Theory]
    [InlineData("engine-general")]
    [InlineData("EngineGeneral")]
    [InlineData("1engine")]
    [InlineData("engine_general")]
    [InlineData("")]
    public void AddEnginePool_NameNotLowercaseAlphanumeric_Throws(string name)
    {
        var builder = TestTopology.Builder();

        Assert.ThrowsAny<ArgumentException>(() => builder.AddEnginePool(name, "llama-3.1-8b-instruct"));
    }

    [Fact]
    public void AddRedis_DuplicateName_Throws()
    {
        var builder = TestTopology.Builder();
        builder.AddRedis("redis");

        var error = Assert.Throws<ArgumentException>(() => builder.AddEnginePool("redis", "m"));
        Assert.Contains("already declared", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Build_WaitForCycle_ReportsIt()
    {
        var builder = TestTopology.Builder("--dynamic-ports");
        var a = builder.AddExecutable("a", "true");
        var b = builder.AddExecutable("b", "true").WaitFor(a);
        a.WaitFor(b);

        var app = builder.Build();

        Assert.Null(app.Model);
        Assert.Contains(app.Errors, e => e.Contains("dependency cycle", StringComparison.Ordinal));
    }

    [Fact]
    public void Build_ProjectAssemblyMissing_ReportsItWithTheFix()
    {
        var builder = TestTopology.Builder("--dynamic-ports");
        builder.AddProject("gateway", "/nonexistent/Platform.Gateway.dll");

        var app = builder.Build();

        Assert.Equal(["gateway: assembly '/nonexistent/Platform.Gateway.dll' does not exist; build it first (dotnet build AppHost)."], app.Errors);
    }

    [Fact]
    public async Task Build_InvalidOptions_ExitsWithCode2()
    {
        var builder = TestTopology.Builder("--engines", "tgi");

        var app = builder.Build();

        Assert.Equal(PlatformApplication.ExitInvalidOptions, await app.RunAsync(TestContext.Current.CancellationToken));
    }

    [Fact]
    public async Task Build_FixedPortTaken_RunExitsWithCode1()
    {
        using var squatter = new System.Net.Sockets.TcpListener(System.Net.IPAddress.Loopback, 0);
        squatter.Start();
        var builder = TestTopology.Builder("--control-port", "0");
        builder.AddRedis("redis", port: ((System.Net.IPEndPoint)squatter.LocalEndpoint).Port);

        var app = builder.Build();

        Assert.Single(app.Errors);
        Assert.Equal(PlatformApplication.ExitCannotStart, await app.RunAsync(TestContext.Current.CancellationToken));
    }

    [Fact]
    public void Build_PlatformTopology_DecidesEveryReplica()
    {
        var builder = TestTopology.Platform("--dynamic-ports");
        builder.EngineSimAssembly = typeof(PlatformApplicationBuilderTests).Assembly.Location;

        var app = builder.Build();

        Assert.Empty(app.Errors);
        Assert.Equal(["redis-0", "enginefallback-0", "enginegeneral-0", "enginegeneral-1", "enginecode-0"], app.Model!.Topology.Replicas.Select(r => r.Id));
    }

    [Fact]
    public void GeneratedProjectMetadata_EngineSim_PointsAtItsBuiltAssembly()
    {
        var engineSim = new Projects.Platform_EngineSim();

        Assert.EndsWith("Platform.EngineSim.csproj", engineSim.ProjectPath, StringComparison.Ordinal);
        Assert.EndsWith(Path.Combine("net10.0", "Platform.EngineSim.dll"), engineSim.TargetPath, StringComparison.Ordinal);
        Assert.True(File.Exists(engineSim.TargetPath), engineSim.TargetPath);
    }
}
