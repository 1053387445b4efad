using Platform.AppHost.Launch;
using Platform.AppHost.Tests.Support;

namespace Platform.AppHost.Tests.Launch;

public sealed class RedisCommandLineTests
{
    private static readonly Topology Topology = TestTopology.Plan(TestTopology.Platform(), firstPort: 20000);

    [Theory]
    [InlineData("auto", "/usr/bin/redis-server", "RedisServer")]
    [InlineData("auto", null, "Garnet")]
    [InlineData("garnet", "/usr/bin/redis-server", "Garnet")]
    [InlineData("redis-server", null, "RedisServer")]
    public void Choose_SettingAndPath_PicksServer(string setting, string? onPath, string expected)
    {
        Assert.Equal(Enum.Parse<RedisServerKind>(expected), RedisCommandLine.Choose(setting, _ => onPath));
    }

    [Fact]
    public void Build_RedisServer_RunsWithoutPersistenceInItsDirectory()
    {
        var spec = RedisCommandLine.Build(RedisServerKind.RedisServer, Topology.FindReplica("redis-0")!, Topology, TestTopology.Options(), "dotnet", "/repo", "/tmp/data");

        Assert.Equal("redis-server", spec.FileName);
        Assert.Equal(["--port", "20000", "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", "/tmp/data"], spec.Arguments);
        Assert.Equal("/tmp/data", spec.WorkingDirectory);
    }

    [Fact]
    public void Build_Garnet_RunsTheLocalToolRolledForwardWithLua()
    {
        var spec = RedisCommandLine.Build(RedisServerKind.Garnet, Topology.FindReplica("redis-0")!, Topology, TestTopology.Options(), "/usr/bin/dotnet", "/repo", "/tmp/data");

        Assert.Equal("/usr/bin/dotnet", spec.FileName);
        Assert.Equal(["tool", "run", "garnet-server", "--", "--port", "20000", "--bind", "127.0.0.1", "--lua"], spec.Arguments.Take(9));
        Assert.Equal("/repo", spec.WorkingDirectory);
        Assert.Equal("Major", spec.Environment["DOTNET_ROLL_FORWARD"]);
    }

    [Fact]
    public void ToolManifest_InRepository_PinsGarnetServer()
    {
        var manifest = File.ReadAllText(Path.Combine(Projects.RepositoryInfo.Root, RedisCommandLine.ToolManifest));

        Assert.Contains("\"garnet-server\"", manifest, StringComparison.Ordinal);
    }
}
