using System.Net;
using System.Net.Sockets;
using Platform.AppHost.Hosting;
using Platform.AppHost.Options;

namespace Platform.AppHost.Launch;

/// <summary>
/// Decides every replica's ports once, before anything starts, so a restarted process comes back on the same
/// endpoint and references can be injected up front.
/// Fixed ports (the default, for local use): a declared port P gives replica i port P + i; engines without one
/// count up from <see cref="AppHostOptions.EnginePortBase"/>, other resources from
/// <see cref="AppHostOptions.ServicePortBase"/>. A busy fixed port stops the AppHost with a message.
/// Dynamic ports (<c>--dynamic-ports</c>, tests): the operating system picks each one. Every picked port is held
/// until all are picked, so no two collide; another program could still take one before its resource binds
/// it, which on a test machine is rare and shows as a failed start that is retried.
/// </summary>
internal static class PortAllocator
{
    public static Topology Allocate(IReadOnlyList<Resource> resources, AppHostOptions options, out IReadOnlyList<string> errors)
    {
        var errorList = new List<string>();
        var held = new List<TcpListener>();
        var used = new Dictionary<int, string>();
        var nextEnginePort = options.EnginePortBase;
        var nextServicePort = options.ServicePortBase;
        try
        {
            int Take(int? fixedPort, string owner, bool isEngine)
            {
                if (options.DynamicPorts)
                {
                    return TakeDynamic(held, used, owner);
                }

                int port;
                if (fixedPort is { } declared)
                {
                    port = declared;
                }
                else
                {
                    do
                    {
                        port = isEngine ? nextEnginePort++ : nextServicePort++;
                    }
                    while (used.ContainsKey(port));
                }

                if (used.TryGetValue(port, out var other))
                {
                    errorList.Add($"port {port} of {owner} is also assigned to {other}.");
                }
                else if (!IsFree(port))
                {
                    errorList.Add($"port {port} of {owner} is in use by another program: stop it, or run with --dynamic-ports.");
                }

                used[port] = owner;
                return port;
            }

            var controlPort = options.DynamicPorts || options.ControlPort == 0
                ? TakeDynamic(held, used, "the control API")
                : Take(options.ControlPort, "the control API", isEngine: false);

            var replicas = new List<ReplicaPlan>();
            foreach (var resource in resources)
            {
                for (var i = 0; i < resource.Replicas; i++)
                {
                    var endpoints = new List<ReplicaEndpoint>(resource.Endpoints.Count);
                    foreach (var declaration in resource.Endpoints)
                    {
                        var owner = $"{resource.ReplicaId(i)} ({declaration.Name})";
                        var port = Take(declaration.Port + i, owner, resource is EnginePoolResource);
                        endpoints.Add(new ReplicaEndpoint(declaration.Name, declaration.Scheme, Topology.Host, port));
                    }

                    replicas.Add(new ReplicaPlan(resource, i, replicas.Count, endpoints));
                }
            }

            errors = errorList;
            return new Topology(resources, replicas, controlPort);
        }
        finally
        {
            foreach (var listener in held)
            {
                listener.Stop();
            }
        }
    }

    private static int TakeDynamic(List<TcpListener> held, Dictionary<int, string> used, string owner)
    {
        var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        held.Add(listener);
        var port = ((IPEndPoint)listener.LocalEndpoint).Port;
        used[port] = owner;
        return port;
    }

    private static bool IsFree(int port)
    {
        try
        {
            var probe = new TcpListener(IPAddress.Loopback, port);
            probe.Start();
            probe.Stop();
            return true;
        }
        catch (SocketException)
        {
            return false;
        }
    }
}
