using System.Globalization;
using Platform.AppHost.Hosting;
using Platform.AppHost.Options;

namespace Platform.AppHost.Launch;

/// <summary>
/// The environment Aspire would inject, so every service binary runs unchanged here, under an Aspire AppHost
/// or in Kubernetes (ARCHITECTURE.md, "Aspire, and why the AppHost is ours"):
/// <list type="bullet">
/// <item><c>ASPNETCORE_ENVIRONMENT</c>, <c>OTEL_SERVICE_NAME</c> (the resource),
/// <c>OTEL_RESOURCE_ATTRIBUTES=service.instance.id={replica id}</c>, and <c>OTEL_EXPORTER_OTLP_ENDPOINT</c> /
/// <c>OTEL_EXPORTER_OTLP_PROTOCOL</c> when the AppHost has an OTLP endpoint;</item>
/// <item>a project's own listening addresses: <c>Kestrel__Endpoints__{http,grpc}__Url</c>;</item>
/// <item>per reference: <c>ConnectionStrings__{name}=host:port</c> for Redis, and
/// <c>services__{name}__{endpoint}__{i}=url</c> for replica i of anything with endpoints;</item>
/// <item>with <see cref="ProjectResource.InjectFleet"/>: the engine catalog (<see cref="FleetCatalog"/>);</item>
/// <item>with <see cref="ProjectResource.InjectControlApi"/>: <c>AppHost__ControlUrl</c>, the control API.</item>
/// </list>
/// Variables set with WithEnvironment come last and win.
/// </summary>
internal static class EnvironmentContract
{
    public static Dictionary<string, string> For(ReplicaPlan replica, Topology topology, AppHostOptions options)
    {
        var resource = replica.Resource;
        var env = new Dictionary<string, string>(StringComparer.Ordinal);
        if (resource is not RedisResource)
        {
            env["ASPNETCORE_ENVIRONMENT"] = options.Environment;
        }

        env["OTEL_SERVICE_NAME"] = resource.Name;
        env["OTEL_RESOURCE_ATTRIBUTES"] = "service.instance.id=" + replica.Id;
        if (!string.IsNullOrWhiteSpace(options.OtlpEndpoint))
        {
            env["OTEL_EXPORTER_OTLP_ENDPOINT"] = options.OtlpEndpoint;
            env["OTEL_EXPORTER_OTLP_PROTOCOL"] = options.OtlpProtocol;
        }

        switch (resource)
        {
            case ProjectResource:
                foreach (var endpoint in replica.Endpoints)
                {
                    env[$"Kestrel__Endpoints__{endpoint.Name}__Url"] = endpoint.Url;
                }

                break;
            case ExecutableResource when replica.Endpoints.Count > 0:
                env["PORT"] = replica.Endpoints[0].Port.ToString(CultureInfo.InvariantCulture);
                break;
        }

        var references = new List<Resource>(resource.References);
        if (resource is ProjectResource { InjectFleet: true })
        {
            foreach (var pool in topology.EnginePools)
            {
                if (!references.Contains(pool))
                {
                    references.Add(pool);
                }
            }

            foreach (var (key, value) in FleetCatalog.ToConfiguration(topology))
            {
                env[key] = value;
            }
        }

        if (resource is ProjectResource { InjectControlApi: true })
        {
            env["AppHost__ControlUrl"] = topology.ControlUrl;
        }

        foreach (var reference in references)
        {
            AddReference(env, reference, topology);
        }

        foreach (var (key, value) in resource.Environment)
        {
            env[key] = value;
        }

        return env;
    }

    private static void AddReference(Dictionary<string, string> env, Resource reference, Topology topology)
    {
        var replicas = topology.ReplicasOf(reference).ToList();
        if (reference is RedisResource)
        {
            env[$"ConnectionStrings__{reference.Name}"] = string.Join(',', replicas.Select(r => r.Endpoint(RedisResource.EndpointName)!.HostAndPort));
            return;
        }

        foreach (var declaration in reference.Endpoints)
        {
            for (var i = 0; i < replicas.Count; i++)
            {
                env[$"services__{reference.Name}__{declaration.Name}__{i}"] = replicas[i].Endpoint(declaration.Name)!.Url;
            }
        }
    }
}
