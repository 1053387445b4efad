using System.Collections.Concurrent;
using System.Text.Json;

namespace Platform.Bench;

/// <summary>One failed engine attempt as the gateway's pipeline logged it (event 3401).</summary>
/// <param name="ConnectionRefused">The engine's port refused the connection: the request never reached it.</param>
internal sealed record FailedAttempt(string RequestId, string Engine, string Error, string Detail, bool ConnectionRefused);

/// <summary>
/// The gateway's log as JSON console lines (<see cref="Settings"/>): the pipeline's failed attempts (3401),
/// continuations (3402) and requests no engine could take (3403), by request id (the id the client sees in every
/// chunk), and every other event with an id (warnings and up), e.g. the scraper's unreachable engines (3101).
/// </summary>
internal sealed class GatewayLog
{
    /// <summary>Gateway settings that make the pipeline log these events, one JSON object per line.</summary>
    public static Dictionary<string, string> Settings => new()
    {
        ["Logging__Console__FormatterName"] = "json",
        ["Logging__LogLevel__Platform.Gateway.Pipeline.GenerationPipeline"] = "Information",
    };

    private readonly ConcurrentQueue<(int EventId, JsonElement State)> _events = new();

    public void OnLine(string line)
    {
        if (!line.StartsWith('{'))
        {
            return;
        }

        try
        {
            using var json = JsonDocument.Parse(line);
            var root = json.RootElement;
            if (root.TryGetProperty("EventId", out var id) && id.GetInt32() != 0 && root.TryGetProperty("State", out var state))
            {
                _events.Enqueue((id.GetInt32(), state.Clone()));
            }
        }
        catch (JsonException)
        {
        }
    }

    public List<FailedAttempt> FailedAttempts() => _events
        .Where(e => e.EventId == 3401)
        .Select(e => new FailedAttempt(
            Text(e.State, "RequestId"), Text(e.State, "EngineId"), Text(e.State, "Error"), Text(e.State, "Detail"),
            Text(e.State, "Error") == "ConnectFailed" && Text(e.State, "Detail") == "ConnectionError"))
        .ToList();

    /// <summary>"3401 x12, 3402 x3, ...": how often each event was logged (warnings and up, plus the pipeline's).</summary>
    public string Summary() => string.Join(", ", _events.GroupBy(e => e.EventId).OrderBy(g => g.Key).Select(g => $"{g.Key} x{g.Count()}"));

    /// <summary>Engines the scraper marked unreachable (event 3101), with how often.</summary>
    public string Unreachable()
    {
        var text = string.Join(", ", _events.Where(e => e.EventId == 3101).GroupBy(e => $"{Text(e.State, "EngineId")} ({Text(e.State, "Error")})").Select(g => $"{g.Key} x{g.Count()}"));
        return text.Length == 0 ? "none" : text;
    }

    /// <summary>Request ids that were continued on another engine after content.</summary>
    public HashSet<string> Continued() => _events.Where(e => e.EventId == 3402).Select(e => Text(e.State, "RequestId")).ToHashSet(StringComparer.Ordinal);

    private static string Text(JsonElement state, string name) =>
        state.TryGetProperty(name, out var value) ? value.ValueKind == JsonValueKind.String ? value.GetString()! : value.GetRawText() : string.Empty;
}
