using System.Collections.Concurrent;
using System.Runtime.CompilerServices;
using System.Text.Json.Nodes;
using Platform.Gateway.Upstream;

namespace Platform.Gateway.Tests.Fixtures.Engines;

/// <summary>An upstream that plays one script per call, in order, and records what it was asked.</summary>
internal sealed class ScriptedUpstream : IUpstreamClient
{
    private readonly ConcurrentQueue<UpstreamEvent[]> _scripts = new();

    public ConcurrentQueue<(string EngineId, JsonObject Body)> Calls { get; } = new();

    public ScriptedUpstream Then(params UpstreamEvent[] script)
    {
        _scripts.Enqueue(script);
        return this;
    }

    public async IAsyncEnumerable<UpstreamEvent> StreamAsync(UpstreamRequest request, [EnumeratorCancellation] CancellationToken cancellationToken)
    {
        Calls.Enqueue((request.Engine.Id, request.Body));
        if (!_scripts.TryDequeue(out var script))
        {
            yield return new UpstreamEnd(UpstreamError.ConnectFailed, Detail: "no script");
            yield break;
        }

        foreach (var e in script)
        {
            await Task.Yield();
            if (cancellationToken.IsCancellationRequested)
            {
                yield return new UpstreamEnd(UpstreamError.Canceled);
                yield break;
            }

            yield return e;
        }
    }
}
