using System.Text.Json;
using System.Text.Json.Serialization;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Platform.AppHost.Orchestration;

namespace Platform.AppHost.Control;

/// <summary>
/// The local control API (HTTP on 127.0.0.1, its URL in the ready line), for people and for the Watchdog:
/// <list type="bullet">
/// <item><c>GET /resources</c>: every resource and replica with state, health, pid, restarts and endpoints;</item>
/// <item><c>GET /resources/{target}</c>: one resource or replica;</item>
/// <item><c>POST /resources/{target}/restart | stop | start</c>: a replica id (<c>enginegeneral-1</c>) or a resource
/// name (all its replicas). A restart keeps the replica's endpoint. Answers once the old process is gone and
/// the new one started (not yet healthy: poll GET for that).</item>
/// </list>
/// </summary>
internal static class ControlApi
{
    public static IEndpointRouteBuilder MapControlApi(this IEndpointRouteBuilder app)
    {
        var orchestrator = app.ServiceProvider.GetRequiredService<Orchestrator>();
        var logger = app.ServiceProvider.GetRequiredService<ILoggerFactory>().CreateLogger(typeof(ControlApi).FullName!);

        app.MapGet("/health", () => Results.Text("Healthy"));
        app.MapGet("/resources", () => Results.Ok(Views(orchestrator, target: null)));
        app.MapGet("/resources/{target}", (string target) =>
        {
            var views = Views(orchestrator, target);
            return views.Count == 0 ? NotFound(target) : Results.Ok(views);
        });

        app.MapPost("/resources/{target}/{action}", async (string target, string action, CancellationToken cancellationToken) =>
        {
            Func<ReplicaSupervisor, CancellationToken, Task>? operation = action switch
            {
                "restart" => (s, ct) => s.RestartAsync(ct),
                "stop" => (s, ct) => s.StopAsync(ct),
                "start" => (s, ct) => s.StartAsync(ct),
                _ => null,
            };
            if (operation is null)
            {
                return Results.Json(new ControlError($"Unknown action '{action}': use restart, stop or start."), ControlJsonContext.Default.ControlError, statusCode: 400);
            }

            var supervisors = orchestrator.Resolve(target);
            if (supervisors.Count == 0)
            {
                return NotFound(target);
            }

            Log.ControlRequest(logger, action, target);
            await Task.WhenAll(supervisors.Select(s => operation(s, cancellationToken))).ConfigureAwait(false);
            return Results.Ok(Views(orchestrator, target));
        });

        return app;
    }

    private static IResult NotFound(string target) =>
        Results.Json(new ControlError($"No resource or replica named '{target}'."), ControlJsonContext.Default.ControlError, statusCode: 404);

    private static List<ResourceView> Views(Orchestrator orchestrator, string? target)
    {
        var views = new List<ResourceView>();
        foreach (var (resource, replicas) in orchestrator.Snapshot())
        {
            var selected = target is null || target == resource.Name
                ? replicas
                : replicas.Where(r => r.Id == target).ToList();
            if (selected.Count == 0)
            {
                continue;
            }

            views.Add(new ResourceView(resource.Name, resource.Kind, selected.Select(ToView).ToList()));
        }

        return views;
    }

    private static ReplicaView ToView(ReplicaSnapshot s) => new(
        s.Id,
        s.Resource,
        s.State switch
        {
            ReplicaState.Waiting => "waiting",
            ReplicaState.Starting => "starting",
            ReplicaState.Running => "running",
            ReplicaState.BackingOff => "backing-off",
            ReplicaState.Stopping => "stopping",
            _ => "stopped",
        },
        s.Healthy,
        s.Pid,
        s.Restarts,
        s.LastExitCode,
        s.StartedAt,
        s.Endpoints.ToDictionary(e => e.Name, e => e.Url, StringComparer.Ordinal));
}

internal sealed record ResourceView(string Name, string Kind, IReadOnlyList<ReplicaView> Replicas);

internal sealed record ReplicaView(
    string Id,
    string Resource,
    string State,
    bool? Healthy,
    int? Pid,
    int Restarts,
    int? LastExitCode,
    DateTimeOffset? StartedAt,
    IReadOnlyDictionary<string, string> Endpoints);

internal sealed record ControlError(string Error);

[JsonSourceGenerationOptions(JsonSerializerDefaults.Web, WriteIndented = false)]
[JsonSerializable(typeof(List<ResourceView>))]
[JsonSerializable(typeof(ControlError))]
internal sealed partial class ControlJsonContext : JsonSerializerContext;
