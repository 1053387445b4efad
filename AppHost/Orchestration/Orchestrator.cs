using System.Diagnostics;
using System.Globalization;
using System.Text;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Platform.AppHost.Hosting;
using Platform.AppHost.Launch;
using Platform.AppHost.Options;
using Platform.AppHost.Output;

namespace Platform.AppHost.Orchestration;

/// <summary>
/// Runs the topology: starts each resource once everything it waits for is healthy, prints the one
/// <c>Platform ready</c> line when every replica is healthy, and on shutdown stops resources in reverse
/// dependency order (a service before the engines and Redis it uses), each gracefully, leaving no process behind.
/// </summary>
internal sealed class Orchestrator : BackgroundService
{
    public const string ReadyPrefix = "Platform ready";

    private readonly PlatformModel _model;
    private readonly ConsoleMux _console;
    private readonly TimeProvider _time;
    private readonly IHostApplicationLifetime _lifetime;
    private readonly ILogger<Orchestrator> _logger;
    private readonly HttpClient _probeClient;
    private readonly string _dataRoot;
    private readonly Dictionary<string, ReplicaSupervisor> _supervisors = new(StringComparer.Ordinal);
    private readonly TaskCompletionSource<string> _ready = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private int _shutDown;

    public Orchestrator(PlatformModel model, ConsoleMux console, TimeProvider time, IHostApplicationLifetime lifetime, ILoggerFactory loggerFactory)
    {
        _model = model;
        _console = console;
        _time = time;
        _lifetime = lifetime;
        _logger = loggerFactory.CreateLogger<Orchestrator>();
        _probeClient = new HttpClient(new SocketsHttpHandler
        {
            ConnectTimeout = TimeSpan.FromSeconds(1),
            PooledConnectionLifetime = TimeSpan.FromSeconds(30),
            UseProxy = false,
        })
        {
            Timeout = Timeout.InfiniteTimeSpan,
        };
        _dataRoot = Path.Combine(Path.GetTempPath(), "platform-apphost-" + Environment.ProcessId.ToString(CultureInfo.InvariantCulture));

        var supervisorLogger = loggerFactory.CreateLogger<ReplicaSupervisor>();
        foreach (var replica in model.Topology.Replicas)
        {
            var spec = BuildSpec(replica);
            _supervisors[replica.Id] = new ReplicaSupervisor(
                replica, spec, ProbeFor(replica), console, model.Options.Supervision, time, supervisorLogger);
        }

        console.RegisterSources(model.Topology.Replicas.Select(r => r.Id).Append(MuxLoggerProvider.Source));
        lifetime.ApplicationStopping.Register(() =>
        {
            foreach (var supervisor in _supervisors.Values)
            {
                supervisor.BeginShutdown();
            }
        });
    }

    public Topology Topology => _model.Topology;

    /// <summary>Completes with the ready line once every replica has been healthy.</summary>
    public Task<string> Ready => _ready.Task;

    public ReplicaSupervisor? FindSupervisor(string replicaId) => _supervisors.GetValueOrDefault(replicaId);

    /// <summary>A replica id, or a resource name for all its replicas.</summary>
    public IReadOnlyList<ReplicaSupervisor> Resolve(string target)
    {
        if (_supervisors.TryGetValue(target, out var one))
        {
            return [one];
        }

        return _supervisors.Values.Where(s => s.Plan.Resource.Name == target).ToList();
    }

    public IReadOnlyList<(Resource Resource, IReadOnlyList<ReplicaSnapshot> Replicas)> Snapshot() =>
        _model.Topology.Resources
            .Select(r => (r, (IReadOnlyList<ReplicaSnapshot>)_model.Topology.ReplicasOf(r).Select(p => _supervisors[p.Id].Snapshot()).ToList()))
            .ToList();

    /// <summary>The ready line: every resource's URLs and the control API's, on one line.</summary>
    public static string FormatReadyLine(Topology topology, TimeSpan elapsed)
    {
        var line = new StringBuilder(ReadyPrefix);
        line.Append(CultureInfo.InvariantCulture, $" in {elapsed.TotalSeconds:0.0} s: control={topology.ControlUrl}");
        foreach (var resource in topology.Resources)
        {
            var urls = topology.ReplicasOf(resource).SelectMany(r => r.Endpoints).Select(e => e.Url).ToList();
            line.Append(' ').Append(resource.Name).Append('=').Append(urls.Count == 0 ? "(process)" : string.Join(',', urls));
            foreach (var (name, value) in resource.ReadyLineValues)
            {
                line.Append(' ').Append(name).Append('=').Append(value);
            }
        }

        return line.ToString();
    }

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        try
        {
            await StartEverythingAsync(stoppingToken).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is not OperationCanceledException || !stoppingToken.IsCancellationRequested)
        {
            Log.StartFailed(_logger, ex);
            Environment.ExitCode = PlatformApplication.ExitCannotStart;
            _lifetime.StopApplication();
        }
    }

    private async Task StartEverythingAsync(CancellationToken stoppingToken)
    {
        var clock = Stopwatch.StartNew();
        if (!await PrepareRedisAsync(stoppingToken).ConfigureAwait(false))
        {
            Environment.ExitCode = PlatformApplication.ExitCannotStart;
            _lifetime.StopApplication();
            return;
        }

        try
        {
            await Task.WhenAll(_model.Topology.Resources.Select(r => StartResourceAsync(r, stoppingToken))).ConfigureAwait(false);
            await Task.WhenAll(_supervisors.Values.Select(s => s.FirstHealthy)).WaitAsync(stoppingToken).ConfigureAwait(false);
            await WhenStartedAsync(stoppingToken).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
            return;
        }

        var line = FormatReadyLine(_model.Topology, clock.Elapsed);
        _console.WriteRaw(line);
        _ready.TrySetResult(line);
    }

    public override async Task StopAsync(CancellationToken cancellationToken)
    {
        await base.StopAsync(cancellationToken).ConfigureAwait(false);
        await ShutdownAsync().ConfigureAwait(false);
    }

    /// <summary>Stops every replica: dependents first, each level in parallel.</summary>
    public async Task ShutdownAsync()
    {
        if (Interlocked.Exchange(ref _shutDown, 1) != 0)
        {
            return;
        }

        Log.ShuttingDown(_logger);
        var clock = Stopwatch.StartNew();
        var depth = DependencyDepths(_model.Topology.Resources);
        foreach (var level in _model.Topology.Resources.GroupBy(r => depth[r]).OrderByDescending(g => g.Key))
        {
            var replicas = level.SelectMany(r => _model.Topology.ReplicasOf(r)).Select(p => _supervisors[p.Id]);
            await Task.WhenAll(replicas.Select(s => s.ShutdownAsync())).ConfigureAwait(false);
        }

        _probeClient.Dispose();
        try
        {
            if (Directory.Exists(_dataRoot))
            {
                Directory.Delete(_dataRoot, recursive: true);
            }
        }
        catch (IOException)
        {
            // A temporary directory left behind is harmless.
        }

        Log.ShutdownComplete(_logger, clock.ElapsedMilliseconds);
    }

    /// <summary>0 for resources that depend on nothing; otherwise one more than the deepest dependency.</summary>
    public static Dictionary<Resource, int> DependencyDepths(IReadOnlyList<Resource> resources)
    {
        var depth = new Dictionary<Resource, int>();
        int Depth(Resource resource, int guard)
        {
            if (depth.TryGetValue(resource, out var known))
            {
                return known;
            }

            if (guard > resources.Count)
            {
                throw new InvalidOperationException($"Resource '{resource.Name}' is part of a dependency cycle.");
            }

            var dependencies = resource.WaitsFor.Concat(resource.References).Where(resources.Contains).ToList();
            var value = dependencies.Count == 0 ? 0 : dependencies.Max(d => Depth(d, guard + 1)) + 1;
            depth[resource] = value;
            return value;
        }

        foreach (var resource in resources)
        {
            Depth(resource, 0);
        }

        return depth;
    }

    private async Task StartResourceAsync(Resource resource, CancellationToken cancellationToken)
    {
        if (resource.WaitsFor.Count > 0)
        {
            Log.WaitingForDependencies(_logger, resource.Name, string.Join(", ", resource.WaitsFor.Select(d => d.Name)));
            var dependencies = resource.WaitsFor.SelectMany(d => _model.Topology.ReplicasOf(d)).Select(p => _supervisors[p.Id].FirstHealthy);
            await Task.WhenAll(dependencies).WaitAsync(cancellationToken).ConfigureAwait(false);
        }

        Log.ResourceStarting(_logger, resource.Name, resource.Kind, resource.Replicas);
        foreach (var replica in _model.Topology.ReplicasOf(resource))
        {
            await _supervisors[replica.Id].StartAsync(cancellationToken).ConfigureAwait(false);
        }
    }

    private async Task WhenStartedAsync(CancellationToken cancellationToken)
    {
        var started = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        using var registration = _lifetime.ApplicationStarted.Register(() => started.TrySetResult());
        await started.Task.WaitAsync(cancellationToken).ConfigureAwait(false);
    }

    private async Task<bool> PrepareRedisAsync(CancellationToken cancellationToken)
    {
        if (!_model.Topology.Resources.OfType<RedisResource>().Any())
        {
            return true;
        }

        if (_model.RedisServer == RedisServerKind.RedisServer)
        {
            Log.RedisServerChosen(_logger, "redis-server", RedisCommandLine.FindOnPath("redis-server") ?? "from PATH");
            return true;
        }

        Log.RedisServerChosen(_logger, "garnet-server (.NET tool)", "redis-server is not on PATH or --redis garnet was given; restoring the tool from " + RedisCommandLine.ToolManifest);
        var restore = ManagedProcess.Start(
            RedisCommandLine.ToolRestore(_model.DotnetHost, _model.RepositoryRoot),
            (line, isError) => _console.WriteLine(MuxLoggerProvider.Source, line, isError));
        int exitCode;
        try
        {
            exitCode = await restore.Exited.WaitAsync(cancellationToken).ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
            restore.Kill();
            throw;
        }

        await restore.CleanUpAfterExitAsync().ConfigureAwait(false);
        if (exitCode != 0)
        {
            Log.ToolRestoreFailed(_logger, exitCode);
            return false;
        }

        return true;
    }

    private ProcessSpec BuildSpec(ReplicaPlan replica)
    {
        var options = _model.Options;
        switch (replica.Resource)
        {
            case RedisResource:
                var directory = Path.Combine(_dataRoot, replica.Id);
                Directory.CreateDirectory(directory);
                return RedisCommandLine.Build(_model.RedisServer, replica, _model.Topology, options, _model.DotnetHost, _model.RepositoryRoot, directory);
            case EnginePoolResource:
                return EngineCommandLine.Build(replica, _model.Topology, options, _model.DotnetHost, _model.EngineSimAssembly);
            case ProjectResource project:
                List<string> args = [project.AssemblyPath, .. project.Arguments];
                return new ProcessSpec(_model.DotnetHost, args, EnvironmentContract.For(replica, _model.Topology, options), Path.GetDirectoryName(project.AssemblyPath));
            case ExecutableResource executable:
                var port = replica.Endpoints.Count > 0 ? replica.Endpoints[0].Port.ToString(CultureInfo.InvariantCulture) : string.Empty;
                var arguments = executable.Arguments.Select(a => a.Replace("{PORT}", port, StringComparison.Ordinal)).ToList();
                return new ProcessSpec(executable.Command, arguments, EnvironmentContract.For(replica, _model.Topology, options), executable.WorkingDirectory);
            default:
                throw new InvalidOperationException($"No launcher for resource kind {replica.Resource.Kind}.");
        }
    }

    private IHealthProbe ProbeFor(ReplicaPlan replica)
    {
        switch (replica.Resource)
        {
            case RedisResource:
                var tcp = replica.Endpoint(RedisResource.EndpointName)!;
                return new RedisPingProbe(tcp.Host, tcp.Port);
            case ExecutableResource { HealthPath: null }:
                return new RunningProbe();
            case ExecutableResource executable:
                return HttpProbe(replica, executable.HealthPath);
            default:
                return HttpProbe(replica, "/health");
        }
    }

    private IHealthProbe HttpProbe(ReplicaPlan replica, string path)
    {
        var http = replica.Endpoint("http");
        return http is null ? new RunningProbe() : new HttpHealthProbe(_probeClient, new Uri(http.Url + path));
    }
}
