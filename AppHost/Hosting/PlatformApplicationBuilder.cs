using System.Reflection;
using Platform.AppHost.Launch;
using Platform.AppHost.Options;

namespace Platform.AppHost.Hosting;

/// <summary>
/// Declares the topology (Aspire's <c>IDistributedApplicationBuilder</c> shape): infrastructure, engines,
/// services. Declaring starts nothing; <see cref="Build"/> checks the whole declaration and decides ports.
/// </summary>
internal sealed class PlatformApplicationBuilder
{
    /// <summary>Redis' port when ports are fixed (not 6379, so a system Redis does not collide with ours).</summary>
    public const int DefaultRedisPort = 16379;

    private readonly List<Resource> _resources = [];

    internal PlatformApplicationBuilder(OptionsLoadResult options, TextWriter output)
    {
        LoadResult = options;
        Output = output;
    }

    public AppHostOptions Options => LoadResult.Options;

    public IReadOnlyList<Resource> Resources => _resources;

    internal OptionsLoadResult LoadResult { get; }

    internal TextWriter Output { get; }

    /// <summary>The EngineSim assembly engines run as (sim engines); defaults to the build's own EngineSim output.</summary>
    internal string EngineSimAssembly { get; set; } = new Projects.Platform_EngineSim().TargetPath;

    /// <summary>Where <c>.config/dotnet-tools.json</c> is (Garnet is restored and run from there).</summary>
    internal string RepositoryRoot { get; set; } = Projects.RepositoryInfo.Root;

    public IResourceBuilder<RedisResource> AddRedis(string name, int? port = DefaultRedisPort)
    {
        var redis = Add(new RedisResource(name));
        redis.Resource.Endpoints.Add(new EndpointDeclaration(RedisResource.EndpointName, "tcp", port));
        return redis;
    }

    /// <summary>
    /// A pool of <paramref name="replicas"/> engines serving <paramref name="model"/> (EngineSim by default,
    /// vLLM with <c>--engines vllm</c>). Without <paramref name="port"/>, ports count up from
    /// <see cref="AppHostOptions.EnginePortBase"/>.
    /// </summary>
    public IResourceBuilder<EnginePoolResource> AddEnginePool(string name, string model, int replicas = 1, int? port = null)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(model);
        var pool = Add(new EnginePoolResource(name, model)).WithReplicas(replicas);
        pool.Resource.Endpoints.Add(new EndpointDeclaration(EnginePoolResource.EndpointName, "http", port));
        return pool;
    }

    /// <summary>A project of this repository, referenced by the AppHost (<c>Projects.Platform_Gateway</c>).</summary>
    public IResourceBuilder<ProjectResource> AddProject<TProject>(string name) where TProject : IProjectMetadata, new() =>
        AddProject(name, new TProject().TargetPath);

    /// <summary>
    /// A project by its built assembly (<c>.dll</c>) or its <c>.csproj</c> (then the assembly is looked for in
    /// <c>bin/{configuration}/net10.0/</c>, the configuration being the AppHost's own).
    /// </summary>
    public IResourceBuilder<ProjectResource> AddProject(string name, string projectOrAssemblyPath)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(projectOrAssemblyPath);
        var path = Path.GetFullPath(projectOrAssemblyPath);
        if (path.EndsWith(".csproj", StringComparison.OrdinalIgnoreCase))
        {
            var configuration = typeof(PlatformApplicationBuilder).Assembly.GetCustomAttribute<AssemblyConfigurationAttribute>()?.Configuration ?? "Debug";
            var assemblyName = Path.GetFileNameWithoutExtension(path) + ".dll";
            path = Path.Combine(Path.GetDirectoryName(path)!, "bin", configuration, "net10.0", assemblyName);
        }

        return Add(new ProjectResource(name, path));
    }

    /// <summary>Any executable; <c>{PORT}</c> in its arguments becomes its first endpoint's port.</summary>
    public IResourceBuilder<ExecutableResource> AddExecutable(string name, string command, params string[] args)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(command);
        return Add(new ExecutableResource(name, command)).WithArgs(args);
    }

    public PlatformApplication Build()
    {
        var errors = new List<string>(LoadResult.Errors);
        if (!LoadResult.IsValid || LoadResult.Help)
        {
            return new PlatformApplication(null, errors, LoadResult.Help, Output, PlatformApplication.ExitInvalidOptions);
        }

        errors.AddRange(FleetCatalog.Validate(_resources.OfType<EnginePoolResource>()));
        foreach (var resource in _resources)
        {
            foreach (var dependency in resource.WaitsFor.Concat(resource.References))
            {
                if (!_resources.Contains(dependency))
                {
                    errors.Add($"{resource.Name} depends on '{dependency.Name}', which belongs to another application.");
                }
            }

            if (resource is ProjectResource project && !File.Exists(project.AssemblyPath))
            {
                errors.Add($"{resource.Name}: assembly '{project.AssemblyPath}' does not exist; build it first (dotnet build AppHost).");
            }
        }

        try
        {
            Orchestration.Orchestrator.DependencyDepths(_resources);
        }
        catch (InvalidOperationException ex)
        {
            errors.Add(ex.Message);
        }

        if (Options.Engines == "sim" && _resources.OfType<EnginePoolResource>().Any() && !File.Exists(EngineSimAssembly))
        {
            errors.Add($"EngineSim is not built at '{EngineSimAssembly}': run 'dotnet build AppHost' (dotnet run --project AppHost builds it).");
        }

        var redisServer = RedisCommandLine.Choose(Options.Redis, RedisCommandLine.FindOnPath);
        if (redisServer == RedisServerKind.Garnet && _resources.OfType<RedisResource>().Any()
            && !File.Exists(Path.Combine(RepositoryRoot, RedisCommandLine.ToolManifest)))
        {
            errors.Add($"redis-server is not on PATH and the Garnet tool manifest '{Path.Combine(RepositoryRoot, RedisCommandLine.ToolManifest)}' is missing.");
        }

        if (errors.Count > 0)
        {
            return new PlatformApplication(null, errors, help: false, Output);
        }

        var topology = PortAllocator.Allocate(_resources, Options, out var portErrors);
        if (portErrors.Count > 0)
        {
            return new PlatformApplication(null, portErrors, help: false, Output);
        }

        var model = new PlatformModel(topology, Options, redisServer, DotnetHost.Resolve(), EngineSimAssembly, RepositoryRoot);
        return new PlatformApplication(model, [], help: false, Output);
    }

    private ResourceBuilder<T> Add<T>(T resource) where T : Resource
    {
        ResourceNames.Validate(resource.Name);
        if (_resources.Exists(r => r.Name == resource.Name))
        {
            throw new ArgumentException($"A resource named '{resource.Name}' is already declared.", nameof(resource));
        }

        _resources.Add(resource);
        return new ResourceBuilder<T>(resource, this);
    }
}
