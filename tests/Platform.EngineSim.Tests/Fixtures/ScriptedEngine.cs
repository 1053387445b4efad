using System.Runtime.CompilerServices;
using System.Text;
using Platform.EngineSim.Engine;
using Platform.EngineSim.Faults;
using Platform.EngineSim.Text;

namespace Platform.EngineSim.Tests.Fixtures;

/// <summary>
/// A small, predictable <see cref="IInferenceEngine"/> for testing the HTTP layer on its own: one token per
/// step from a fixed word list (seeded), stop strings, max_tokens, an optional per-step delay and a gate that
/// holds every step. It keeps the counters the real engine exposes so tests can read them from /metrics.
/// </summary>
internal sealed class ScriptedEngine(EngineOptions options, FaultSettings faults, ISimTokenizer tokenizer) : IInferenceEngine
{
    private static readonly string[] Words =
        [" the", " quick", " brown", " fox", " jumps", " over", " a", " lazy", " dog", ".", " It", " was", " calm"];

    private int _running;
    private long _promptTokens;
    private long _generationTokens;
    private long _aborted;
    private volatile bool _dead;
    private TaskCompletionSource _gate = Opened();

    public EngineOptions Options { get; } = options;

    public FaultController Faults { get; } = new(faults);

    /// <summary>Delay between steps (default none).</summary>
    public TimeSpan StepDelay { get; set; }

    /// <summary>When set, generation ends with finish_reason "stop" after this many tokens (a natural EOS).</summary>
    public int? EosAfter { get; set; }

    public int Running => Volatile.Read(ref _running);

    public long Aborted => Interlocked.Read(ref _aborted);

    /// <summary>Holds every step until <see cref="OpenGate"/>.</summary>
    public void CloseGate() => Interlocked.Exchange(ref _gate, new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously));

    public void OpenGate() => _gate.TrySetResult();

    public bool IsDead => _dead;

    public void MarkDead() => _dead = true;

    public async IAsyncEnumerable<StepOutput> GenerateAsync(EngineRequest request, [EnumeratorCancellation] CancellationToken cancellationToken)
    {
        if (_dead)
        {
            throw new EngineDeadException();
        }

        Interlocked.Increment(ref _running);
        Interlocked.Add(ref _promptTokens, request.PromptTokenIds.Length);
        var finished = false;
        try
        {
            var random = new Random(unchecked((int)(request.Seed ?? request.PromptTokenIds.Length)));
            var text = new StringBuilder();
            var sent = 0;
            for (var generated = 1; generated <= request.MaxTokens; generated++)
            {
                await Volatile.Read(ref _gate).Task.WaitAsync(cancellationToken);
                if (StepDelay > TimeSpan.Zero)
                {
                    await Task.Delay(StepDelay, cancellationToken);
                }

                cancellationToken.ThrowIfCancellationRequested();
                var word = Words[random.Next(Words.Length)];
                var id = tokenizer.Encode(word)[0];
                text.Append(word);
                Interlocked.Increment(ref _generationTokens);
                FinishReason? finish = generated == request.MaxTokens ? FinishReason.Length : null;
                string? stopReason = null;
                var visible = text.Length;
                if (generated >= request.MinTokens)
                {
                    foreach (var stop in request.Stop)
                    {
                        var at = text.ToString().IndexOf(stop, StringComparison.Ordinal);
                        if (at >= 0)
                        {
                            finish = FinishReason.Stop;
                            stopReason = stop;
                            visible = request.IncludeStopStrInOutput ? at + stop.Length : at;
                            break;
                        }
                    }

                    if (finish is null && !request.IgnoreEos && EosAfter is { } eos && generated >= eos)
                    {
                        finish = FinishReason.Stop;
                    }
                }

                var delta = visible > sent ? text.ToString(sent, visible - sent) : "";
                sent = Math.Max(sent, visible);
                IReadOnlyList<TopLogprob>? top = request.Logprobs is > 0
                    ? [.. Enumerable.Range(0, request.Logprobs.Value).Select(i => new TopLogprob(id + i, Words[(i + 1) % Words.Length], -0.5f - i))]
                    : null;
                yield return new StepOutput
                {
                    Tokens = [new GeneratedToken(id, word, -0.25f, top)],
                    Text = delta,
                    FinishReason = finish,
                    StopReason = stopReason,
                    PromptTokens = request.PromptTokenIds.Length,
                    CompletionTokens = generated,
                    CachedPromptTokens = 0,
                };
                if (finish is not null)
                {
                    finished = true;
                    yield break;
                }
            }
        }
        finally
        {
            if (!finished)
            {
                Interlocked.Increment(ref _aborted);
            }

            Interlocked.Decrement(ref _running);
        }
    }

    public void WriteMetrics(TextWriter writer)
    {
        writer.Write("# TYPE vllm:num_requests_running gauge\n");
        writer.Write($"vllm:num_requests_running{{engine=\"0\",model_name=\"{Options.PrimaryModelName}\"}} {Running}.0\n");
        writer.Write("# TYPE vllm:prompt_tokens_total counter\n");
        writer.Write($"vllm:prompt_tokens_total{{engine=\"0\",model_name=\"{Options.PrimaryModelName}\"}} {Interlocked.Read(ref _promptTokens)}.0\n");
    }

    public EngineSnapshot Snapshot() =>
        new(Running, 0, Options.NumGpuBlocks, Options.NumGpuBlocks, 0, 0, 0, Interlocked.Read(ref _promptTokens),
            Interlocked.Read(ref _generationTokens), 0, _dead);

    private static TaskCompletionSource Opened()
    {
        var gate = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        gate.SetResult();
        return gate;
    }
}
