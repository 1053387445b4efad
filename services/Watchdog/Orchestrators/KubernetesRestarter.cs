using System.Net;
using k8s;
using k8s.Autorest;
using k8s.Exceptions;
using k8s.Models;
using Microsoft.Extensions.Options;
using Platform.Fleet.Catalog;

namespace Platform.Watchdog.Orchestrators;

/// <summary>
/// Kubernetes: deletes the engine's pod through the API server; its StatefulSet recreates it under the same name, so
/// it comes back on the same address behind the headless Service. Needs <c>delete</c> (and <c>get</c>) on pods in the
/// engines' namespace: deploy/watchdog-rbac.yaml. In the cluster the service account is used; outside it,
/// <c>Watchdog:Orchestrator:Kubernetes:ApiServer</c>.
/// </summary>
internal sealed class KubernetesRestarter : IEngineRestarter, IDisposable
{
    public const string KindName = "kubernetes";

    private const string ServiceAccountNamespaceFile = "/var/run/secrets/kubernetes.io/serviceaccount/namespace";

    private readonly KubernetesRestarterOptions _options;
    private readonly Lazy<IKubernetes> _client;

    public KubernetesRestarter(IOptions<OrchestratorOptions> options)
        : this(options, null)
    {
    }

    internal KubernetesRestarter(IOptions<OrchestratorOptions> options, IKubernetes? client)
    {
        _options = options.Value.Kubernetes;
        _client = new Lazy<IKubernetes>(() => client ?? new Kubernetes(string.IsNullOrWhiteSpace(_options.ApiServer)
            ? KubernetesClientConfiguration.InClusterConfig()
            : new KubernetesClientConfiguration { Host = _options.ApiServer }));
    }

    /// <summary>How often the old pod is looked for after the deletion.</summary>
    internal TimeSpan PollInterval { get; init; } = TimeSpan.FromMilliseconds(500);

    public string Name => KindName;

    public string Namespace => !string.IsNullOrWhiteSpace(_options.Namespace) ? _options.Namespace
        : File.Exists(ServiceAccountNamespaceFile) ? File.ReadAllText(ServiceAccountNamespaceFile).Trim()
        : "default";

    public string PodName(EngineInfo engine) => _options.PodName.Replace("{engine}", engine.Id, StringComparison.Ordinal);

    public async Task RestartAsync(EngineInfo engine, CancellationToken cancellationToken)
    {
        var pod = PodName(engine);
        var ns = Namespace;
        try
        {
            var deleted = await _client.Value.CoreV1.DeleteNamespacedPodAsync(
                pod,
                ns,
                body: new V1DeleteOptions { GracePeriodSeconds = _options.GracePeriodSeconds, PropagationPolicy = "Background" },
                cancellationToken: cancellationToken).ConfigureAwait(false);

            // The old pod keeps answering through its grace period: the restart has happened only once it is gone
            // (404) or a pod with another uid holds its name, else a warm-up could succeed against the old process.
            var uid = deleted?.Metadata?.Uid;
            while (uid is not null)
            {
                V1Pod current;
                try
                {
                    current = await _client.Value.CoreV1.ReadNamespacedPodAsync(pod, ns, cancellationToken: cancellationToken).ConfigureAwait(false);
                }
                catch (HttpOperationException ex) when (ex.Response?.StatusCode == HttpStatusCode.NotFound)
                {
                    break;
                }

                if (current.Metadata?.Uid != uid)
                {
                    break;
                }

                await Task.Delay(PollInterval, cancellationToken).ConfigureAwait(false);
            }
        }
        catch (HttpOperationException ex)
        {
            var status = ex.Response?.StatusCode;
            throw new EngineRestartException(status switch
            {
                HttpStatusCode.NotFound => $"pod {ns}/{pod} not found",
                HttpStatusCode.Forbidden => $"not allowed to delete pod {ns}/{pod}: check the watchdog's RBAC (deploy/watchdog-rbac.yaml)",
                _ => $"deleting pod {ns}/{pod} failed: {(int?)status} {AppHostRestarter.Shorten(ex.Response?.Content ?? "")}",
            }, ex);
        }
        catch (HttpRequestException ex)
        {
            throw new EngineRestartException($"Kubernetes API server unreachable: {ex.HttpRequestError}", ex);
        }
        catch (KubeConfigException ex)
        {
            throw new EngineRestartException("no Kubernetes configuration: not in a cluster and no Watchdog:Orchestrator:Kubernetes:ApiServer", ex);
        }
    }

    public void Dispose()
    {
        if (_client.IsValueCreated)
        {
            _client.Value.Dispose();
        }
    }
}
