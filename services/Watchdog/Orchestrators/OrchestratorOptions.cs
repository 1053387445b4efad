using System.ComponentModel.DataAnnotations;
using Microsoft.Extensions.Options;

namespace Platform.Watchdog.Orchestrators;

/// <summary>Which orchestrator restarts engines, and how to reach it (section <c>Watchdog:Orchestrator</c>).</summary>
internal sealed class OrchestratorOptions
{
    public const string SectionName = "Watchdog:Orchestrator";

    /// <summary><c>apphost</c> (local default), <c>kubernetes</c> or <c>docker</c>.</summary>
    [Required]
    public string Kind { get; set; } = AppHostRestarter.KindName;

    /// <summary>The AppHost control API; empty: configuration <c>AppHost:ControlUrl</c>, which the AppHost injects.</summary>
    public string? ControlUrl { get; set; }

    public KubernetesRestarterOptions Kubernetes { get; set; } = new();

    public DockerRestarterOptions Docker { get; set; } = new();
}

internal sealed class KubernetesRestarterOptions
{
    /// <summary>The API server (e.g. https://10.0.0.1:443); empty: in-cluster configuration (service account).</summary>
    public string? ApiServer { get; set; }

    /// <summary>The engines' namespace; empty: the pod's own namespace (service account), else "default".</summary>
    public string? Namespace { get; set; }

    /// <summary>The pod of an engine: <c>{engine}</c> is its id, which is a StatefulSet pod name (<c>enginegeneral-1</c>).</summary>
    public string PodName { get; set; } = "{engine}";

    /// <summary>Grace period of the pod deletion (vLLM finishes or aborts its requests in it); null: the pod's own.</summary>
    public int? GracePeriodSeconds { get; set; }
}

internal sealed class DockerRestarterOptions
{
    /// <summary>The docker CLI (or a compatible one: podman, nerdctl).</summary>
    public string Executable { get; set; } = "docker";

    /// <summary>The container of an engine: <c>{engine}</c> is its id (the AppHost names vLLM containers <c>platform-{replica}</c>).</summary>
    public string Container { get; set; } = "platform-{engine}";

    /// <summary><c>docker restart --time</c>: seconds to wait for the container to stop before killing it.</summary>
    [Range(0, 3600)]
    public int StopTimeoutSeconds { get; set; } = 30;
}

internal sealed class OrchestratorOptionsValidator : IValidateOptions<OrchestratorOptions>
{
    public ValidateOptionsResult Validate(string? name, OrchestratorOptions options)
    {
        var errors = new List<string>();
        var section = OrchestratorOptions.SectionName;
        switch (options.Kind)
        {
            case AppHostRestarter.KindName:
                if (!string.IsNullOrWhiteSpace(options.ControlUrl) && !Uri.TryCreate(options.ControlUrl, UriKind.Absolute, out _))
                {
                    errors.Add($"{section}:ControlUrl must be an absolute URL.");
                }

                break;
            case KubernetesRestarter.KindName:
                if (!string.IsNullOrWhiteSpace(options.Kubernetes.ApiServer) && !Uri.TryCreate(options.Kubernetes.ApiServer, UriKind.Absolute, out _))
                {
                    errors.Add($"{section}:Kubernetes:ApiServer must be an absolute URL.");
                }

                if (!options.Kubernetes.PodName.Contains("{engine}", StringComparison.Ordinal))
                {
                    errors.Add($"{section}:Kubernetes:PodName must contain {{engine}}.");
                }

                if (options.Kubernetes.GracePeriodSeconds is < 0 or > 3600)
                {
                    errors.Add($"{section}:Kubernetes:GracePeriodSeconds must be within 0..3600.");
                }

                break;
            case DockerRestarter.KindName:
                if (string.IsNullOrWhiteSpace(options.Docker.Executable))
                {
                    errors.Add($"{section}:Docker:Executable is required.");
                }

                if (!options.Docker.Container.Contains("{engine}", StringComparison.Ordinal))
                {
                    errors.Add($"{section}:Docker:Container must contain {{engine}}.");
                }

                if (options.Docker.StopTimeoutSeconds is < 0 or > 3600)
                {
                    errors.Add($"{section}:Docker:StopTimeoutSeconds must be within 0..3600.");
                }

                break;
            default:
                errors.Add($"{section}:Kind '{options.Kind}' is unknown: use {AppHostRestarter.KindName}, {KubernetesRestarter.KindName} or {DockerRestarter.KindName}.");
                break;
        }

        return errors.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(errors);
    }
}
