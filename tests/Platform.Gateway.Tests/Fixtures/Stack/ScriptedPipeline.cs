using System.Collections.Concurrent;
using System.Runtime.CompilerServices;
using Platform.Classifier.V1;
using Platform.Fleet.Catalog;
using Platform.Gateway.Pipeline;

namespace Platform.Gateway.Tests.Fixtures.Stack;

/// <summary>
/// A recording generation pipeline for front-end tests: every request it receives is kept (so tests prove that bad
/// input never reached it), and the events it answers come from <see cref="Script"/>.
/// </summary>
internal sealed class ScriptedPipeline : IGenerationPipeline
{
    public static readonly EngineInfo Engine = new("enginegeneral-0", "enginegeneral", "llama-3.1-8b-instruct", new Uri("http://127.0.0.1:1/"));

    public ConcurrentQueue<GenerationRequest> Requests { get; } = new();

    /// <summary>Cancellation observed by a request (set when the pipeline saw its token cancelled).</summary>
    public TaskCompletionSource Cancelled { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

    public Func<GenerationRequest, CancellationToken, IAsyncEnumerable<GenerationEvent>> Script { get; set; } = (r, ct) => Hello(r, ct);

    public static RouteDecision Route(bool fallback = false) =>
        new(Engine, fallback ? "enginefallback" : "enginegeneral", fallback ? "phi-3-mini-4k-instruct" : "llama-3.1-8b-instruct", TaskKind.General, fallback, fallback ? "breaker_open" : "affinity");

    public IAsyncEnumerable<GenerationEvent> RunAsync(GenerationRequest request, CancellationToken cancellationToken)
    {
        Requests.Enqueue(request);
        return Script(request, cancellationToken);
    }

    /// <summary>"Hello world" for every choice, then usage 5 + 2.</summary>
    public static async IAsyncEnumerable<GenerationEvent> Hello(GenerationRequest request, [EnumeratorCancellation] CancellationToken cancellationToken, bool fallback = false)
    {
        await Task.Yield();
        var route = Route(fallback);
        yield return new RoutedEvent(route);
        for (var i = 0; i < request.Choices; i++)
        {
            yield return new ContentEvent(i, "Hello", null, null, null);
            cancellationToken.ThrowIfCancellationRequested();
            yield return new ContentEvent(i, " world", null, "stop", null);
        }

        yield return new CompletedEvent(new GenerationUsage(5, 2 * request.Choices, 0), route, 0, 0);
    }

    /// <summary>Routes, streams one piece, then waits until the caller cancels (records it).</summary>
    public async IAsyncEnumerable<GenerationEvent> HangAfterFirstPiece(GenerationRequest request, [EnumeratorCancellation] CancellationToken cancellationToken)
    {
        _ = request;
        yield return new RoutedEvent(Route());
        yield return new ContentEvent(0, "Hello", null, null, null);
        try
        {
            await Task.Delay(Timeout.Infinite, cancellationToken);
        }
        finally
        {
            if (cancellationToken.IsCancellationRequested)
            {
                Cancelled.TrySetResult();
            }
        }
    }

    public static async IAsyncEnumerable<GenerationEvent> Fail(GatewayError error, bool afterContent)
    {
        await Task.Yield();
        yield return new RoutedEvent(Route());
        if (afterContent)
        {
            yield return new ContentEvent(0, "Hello", null, null, null);
        }

        yield return new FailedEvent(error, 1, 0);
    }
}
