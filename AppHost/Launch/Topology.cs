using Platform.AppHost.Hosting;

namespace Platform.AppHost.Launch;

/// <summary>An endpoint of one replica, with the port it keeps for the AppHost's lifetime (restarts included).</summary>
internal sealed record ReplicaEndpoint(string Name, string Scheme, string Host, int Port)
{
    public string Url => $"{Scheme}://{Host}:{Port}";

    /// <summary>host:port, as Redis connection strings write it.</summary>
    public string HostAndPort => $"{Host}:{Port}";
}

/// <summary>One process to run: replica <see cref="Index"/> of <see cref="Resource"/>.</summary>
internal sealed class ReplicaPlan(Resource resource, int index, int ordinal, IReadOnlyList<ReplicaEndpoint> endpoints)
{
    public Resource Resource { get; } = resource;

    public int Index { get; } = index;

    /// <summary>Position among all replicas of the topology (declaration order): seeds derive from it.</summary>
    public int Ordinal { get; } = ordinal;

    /// <summary><c>{resource}-{index}</c>.</summary>
    public string Id { get; } = resource.ReplicaId(index);

    public IReadOnlyList<ReplicaEndpoint> Endpoints { get; } = endpoints;

    public ReplicaEndpoint? Endpoint(string name)
    {
        foreach (var endpoint in Endpoints)
        {
            if (endpoint.Name == name)
            {
                return endpoint;
            }
        }

        return null;
    }
}

/// <summary>The declared resources with every replica's ports decided, and the control API's port.</summary>
internal sealed class Topology(IReadOnlyList<Resource> resources, IReadOnlyList<ReplicaPlan> replicas, int controlPort)
{
    public const string Host = "127.0.0.1";

    public IReadOnlyList<Resource> Resources { get; } = resources;

    public IReadOnlyList<ReplicaPlan> Replicas { get; } = replicas;

    public int ControlPort { get; } = controlPort;

    public string ControlUrl => $"http://{Host}:{ControlPort}";

    public IEnumerable<ReplicaPlan> ReplicasOf(Resource resource) => Replicas.Where(r => ReferenceEquals(r.Resource, resource));

    public IEnumerable<EnginePoolResource> EnginePools => Resources.OfType<EnginePoolResource>();

    public ReplicaPlan? FindReplica(string id) => Replicas.FirstOrDefault(r => r.Id == id);
}
