using System.Net;
using System.Net.Sockets;
using Platform.AppHost.Hosting;
using Platform.AppHost.Launch;
using Platform.AppHost.Tests.Support;

namespace Platform.AppHost.Tests.Launch;

public sealed class PortAllocatorTests
{
    [Fact]
    public void Allocate_DynamicPorts_GivesEveryEndpointADistinctPort()
    {
        var builder = TestTopology.Platform("--dynamic-ports");
        builder.AddProject("gateway", "/opt/Platform.Gateway.dll").WithHttpEndpoint(port: 8080).WithGrpcEndpoint().WithReplicas(2);

        var topology = PortAllocator.Allocate(builder.Resources, builder.Options, out var errors);

        Assert.Empty(errors);
        var ports = topology.Replicas.SelectMany(r => r.Endpoints).Select(e => e.Port).Append(topology.ControlPort).ToList();
        Assert.Equal(1 + 4 + 4 + 1, ports.Count);
        Assert.Equal(ports.Count, ports.Distinct().Count());
        Assert.DoesNotContain(8080, ports);
    }

    [Fact]
    public void Allocate_FixedPorts_CountUpFromTheBases()
    {
        var builder = TestTopology.Platform("--control-port", "0");
        builder.Options.EnginePortBase = FreeRangeStart(10);
        builder.Options.ServicePortBase = builder.Options.EnginePortBase + 5;
        builder.Resources.OfType<RedisResource>().Single().Endpoints[0] = new EndpointDeclaration("tcp", "tcp", builder.Options.EnginePortBase + 9);
        builder.AddProject("gateway", "/opt/Platform.Gateway.dll").WithHttpEndpoint().WithGrpcEndpoint();

        var topology = PortAllocator.Allocate(builder.Resources, builder.Options, out var errors);

        Assert.Empty(errors);
        var b = builder.Options.EnginePortBase;
        Assert.Equal(b + 9, topology.FindReplica("redis-0")!.Endpoints[0].Port);
        Assert.Equal([b, b + 1, b + 2, b + 3], new[] { "enginefallback-0", "enginegeneral-0", "enginegeneral-1", "enginecode-0" }.Select(id => topology.FindReplica(id)!.Endpoints[0].Port));
        Assert.Equal([b + 5, b + 6], topology.FindReplica("gateway-0")!.Endpoints.Select(e => e.Port));
    }

    [Fact]
    public void Allocate_FixedPortInUse_ReportsItWithTheWayOut()
    {
        using var squatter = new TcpListener(IPAddress.Loopback, 0);
        squatter.Start();
        var busy = ((IPEndPoint)squatter.LocalEndpoint).Port;
        var builder = TestTopology.Builder("--control-port", "0");
        builder.AddRedis("redis", port: busy);

        PortAllocator.Allocate(builder.Resources, builder.Options, out var errors);

        Assert.Equal([$"port {busy} of redis-0 (tcp) is in use by another program: stop it, or run with --dynamic-ports."], errors);
    }

    /// <summary>A port range that is free now (the OS hands out ports far apart, so a small range above one is likely free).</summary>
    private static int FreeRangeStart(int length)
    {
        for (var attempt = 0; attempt < 50; attempt++)
        {
            using var probe = new TcpListener(IPAddress.Loopback, 0);
            probe.Start();
            var start = ((IPEndPoint)probe.LocalEndpoint).Port;
            probe.Stop();
            if (start + length < 65535 && Enumerable.Range(start, length).All(IsFree))
            {
                return start;
            }
        }

        throw new InvalidOperationException("No free port range found.");
    }

    private static bool IsFree(int port)
    {
        try
        {
            using var listener = new TcpListener(IPAddress.Loopback, port);
            listener.Start();
            return true;
        }
        catch (SocketException)
        {
            return false;
        }
    }
}
