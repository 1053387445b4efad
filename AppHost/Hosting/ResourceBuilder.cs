namespace Platform.AppHost.Hosting;

/// <summary>A declared resource and the application it belongs to; the With* extensions configure it.</summary>
internal interface IResourceBuilder<out T> where T : Resource
{
    T Resource { get; }

    PlatformApplicationBuilder ApplicationBuilder { get; }
}

internal sealed class ResourceBuilder<T>(T resource, PlatformApplicationBuilder applicationBuilder) : IResourceBuilder<T>
    where T : Resource
{
    public T Resource { get; } = resource;

    public PlatformApplicationBuilder ApplicationBuilder { get; } = applicationBuilder;
}

/// <summary>The wiring verbs, named as in Aspire so a port to an Aspire AppHost is a change of usings.</summary>
internal static class ResourceBuilderExtensions
{
    /// <summary>
    /// Injects how to reach <paramref name="source"/>: <c>ConnectionStrings__{name}</c> for Redis,
    /// <c>services__{name}__{endpoint}__{i}</c> for every replica of anything with endpoints.
    /// </summary>
    public static IResourceBuilder<T> WithReference<T>(this IResourceBuilder<T> builder, IResourceBuilder<Resource> source)
        where T : Resource
    {
        ArgumentNullException.ThrowIfNull(source);
        if (ReferenceEquals(builder.Resource, source.Resource))
        {
            throw new ArgumentException($"Resource '{builder.Resource.Name}' cannot reference itself.", nameof(source));
        }

        if (!builder.Resource.References.Contains(source.Resource))
        {
            builder.Resource.References.Add(source.Resource);
        }

        return builder;
    }

    /// <summary>Starts this resource only once every replica of <paramref name="dependency"/> is healthy.</summary>
    public static IResourceBuilder<T> WaitFor<T>(this IResourceBuilder<T> builder, IResourceBuilder<Resource> dependency)
        where T : Resource
    {
        ArgumentNullException.ThrowIfNull(dependency);
        if (ReferenceEquals(builder.Resource, dependency.Resource))
        {
            throw new ArgumentException($"Resource '{builder.Resource.Name}' cannot wait for itself.", nameof(dependency));
        }

        if (!builder.Resource.WaitsFor.Contains(dependency.Resource))
        {
            builder.Resource.WaitsFor.Add(dependency.Resource);
        }

        return builder;
    }

    public static IResourceBuilder<T> WithEnvironment<T>(this IResourceBuilder<T> builder, string name, string value)
        where T : Resource
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(name);
        ArgumentNullException.ThrowIfNull(value);
        builder.Resource.Environment[name] = value;
        return builder;
    }

    public static IResourceBuilder<T> WithArgs<T>(this IResourceBuilder<T> builder, params string[] args)
        where T : Resource
    {
        builder.Resource.Arguments.AddRange(args);
        return builder;
    }

    public static IResourceBuilder<T> WithReplicas<T>(this IResourceBuilder<T> builder, int replicas)
        where T : Resource
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(replicas, 1);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(replicas, 64);
        builder.Resource.Replicas = replicas;
        return builder;
    }

    /// <summary>An HTTP/1.1 endpoint (<c>Kestrel__Endpoints__http__Url</c>); null port: assigned by the AppHost.</summary>
    public static IResourceBuilder<T> WithHttpEndpoint<T>(this IResourceBuilder<T> builder, int? port = null, string name = "http")
        where T : Resource => builder.WithEndpoint(name, "http", port);

    /// <summary>An h2c endpoint for gRPC (<c>Kestrel__Endpoints__grpc__Url</c>); null port: assigned by the AppHost.</summary>
    public static IResourceBuilder<T> WithGrpcEndpoint<T>(this IResourceBuilder<T> builder, int? port = null)
        where T : Resource => builder.WithEndpoint("grpc", "http", port);

    public static IResourceBuilder<T> WithEndpoint<T>(this IResourceBuilder<T> builder, string name, string scheme, int? port)
        where T : Resource
    {
        ResourceNames.ValidateEndpointName(name);
        if (port is < 1 or > 65535)
        {
            throw new ArgumentOutOfRangeException(nameof(port), port, "A fixed port is 1..65535 (leave it null for an assigned one).");
        }

        var endpoints = builder.Resource.Endpoints;
        var existing = endpoints.FindIndex(e => e.Name == name);
        var declaration = new EndpointDeclaration(name, scheme, port);
        if (existing >= 0)
        {
            endpoints[existing] = declaration;
        }
        else
        {
            endpoints.Add(declaration);
        }

        return builder;
    }

    /// <summary>Shows <c>name=value</c> in the <c>Platform ready</c> line after the resource's URLs.</summary>
    public static IResourceBuilder<T> WithReadyLineValue<T>(this IResourceBuilder<T> builder, string name, string value)
        where T : Resource
    {
        ResourceNames.ValidateEndpointName(name);
        ArgumentException.ThrowIfNullOrWhiteSpace(value);
        if (value.Contains(' ', StringComparison.Ordinal) || value.Contains(',', StringComparison.Ordinal))
        {
            throw new ArgumentException("A ready-line value holds no spaces or commas.", nameof(value));
        }

        builder.Resource.ReadyLineValues.Add(new(name, value));
        return builder;
    }

    /// <summary>Gives a service the engine catalog (<c>Fleet__...</c>) and a reference to every engine pool.</summary>
    public static IResourceBuilder<ProjectResource> WithFleet(this IResourceBuilder<ProjectResource> builder)
    {
        builder.Resource.InjectFleet = true;
        return builder;
    }

    /// <summary>
    /// Gives a service the AppHost's control API (<c>AppHost__ControlUrl</c>), through which it may restart replicas on
    /// their endpoints (the watchdog). Under Aspire or Kubernetes the service is configured with its own orchestrator.
    /// </summary>
    public static IResourceBuilder<ProjectResource> WithControlApi(this IResourceBuilder<ProjectResource> builder)
    {
        builder.Resource.InjectControlApi = true;
        return builder;
    }

    /// <summary>Speculative decoding with a draft model that proposes <paramref name="numSpeculativeTokens"/> tokens per step.</summary>
    public static IResourceBuilder<EnginePoolResource> WithDraftModel(
        this IResourceBuilder<EnginePoolResource> builder, string model, DraftKind kind, int numSpeculativeTokens)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(model);
        ArgumentOutOfRangeException.ThrowIfLessThan(numSpeculativeTokens, 1);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(numSpeculativeTokens, 16);
        builder.Resource.Draft = new DraftModel(model, kind, numSpeculativeTokens);
        return builder;
    }

    public static IResourceBuilder<EnginePoolResource> WithTaskAffinity(this IResourceBuilder<EnginePoolResource> builder, TaskAffinity affinity)
    {
        builder.Resource.TaskAffinity = affinity;
        return builder;
    }

    /// <summary>Requests for this pool's model fall back to the model <paramref name="fallbackPool"/> serves.</summary>
    public static IResourceBuilder<EnginePoolResource> WithFallback(
        this IResourceBuilder<EnginePoolResource> builder, IResourceBuilder<EnginePoolResource> fallbackPool)
    {
        ArgumentNullException.ThrowIfNull(fallbackPool);
        if (fallbackPool.Resource.Model == builder.Resource.Model)
        {
            throw new ArgumentException($"Pool '{builder.Resource.Name}' cannot fall back to its own model '{builder.Resource.Model}'.", nameof(fallbackPool));
        }

        builder.Resource.FallbackModel = fallbackPool.Resource.Model;
        return builder;
    }

    public static IResourceBuilder<EnginePoolResource> WithMaxModelLen(this IResourceBuilder<EnginePoolResource> builder, int maxModelLen)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(maxModelLen, 16);
        builder.Resource.MaxModelLen = maxModelLen;
        return builder;
    }

    public static IResourceBuilder<EnginePoolResource> WithNumGpuBlocks(this IResourceBuilder<EnginePoolResource> builder, int numGpuBlocks)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(numGpuBlocks, 1);
        builder.Resource.NumGpuBlocks = numGpuBlocks;
        return builder;
    }

    /// <summary>Healthy when GET <paramref name="path"/> on the executable's <c>http</c> endpoint answers 200.</summary>
    public static IResourceBuilder<ExecutableResource> WithHttpHealthCheck(this IResourceBuilder<ExecutableResource> builder, string path = "/health")
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(path);
        builder.Resource.HealthPath = path;
        return builder;
    }

    public static IResourceBuilder<ExecutableResource> WithWorkingDirectory(this IResourceBuilder<ExecutableResource> builder, string directory)
    {
        builder.Resource.WorkingDirectory = directory;
        return builder;
    }
}
