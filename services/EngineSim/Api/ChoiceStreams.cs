using System.Runtime.CompilerServices;
using System.Threading.Channels;
using Platform.EngineSim.Engine;

namespace Platform.EngineSim.Api;

/// <summary>One engine step's output for one choice.</summary>
internal readonly record struct ChoiceOutput(int Choice, StepOutput Output);

/// <summary>
/// Runs a plan's choices on the engine. One choice (the common case) is the engine's stream itself; several
/// (n &gt; 1, or a list of prompts) run concurrently, as vLLM's parallel sampling does, merged through a
/// bounded channel that makes a slow client hold the engine's pumps back rather than buffer without end.
/// </summary>
internal static class ChoiceStreams
{
    private const int MergeCapacity = 64;

    public static IAsyncEnumerable<ChoiceOutput> RunAsync(IInferenceEngine engine, GenerationPlan plan, CancellationToken cancellationToken) =>
        plan.Choices.Count == 1
            ? SingleAsync(engine, plan.Choices[0], cancellationToken)
            : MergedAsync(engine, plan.Choices, cancellationToken);

    private static async IAsyncEnumerable<ChoiceOutput> SingleAsync(
        IInferenceEngine engine, PlannedChoice choice, [EnumeratorCancellation] CancellationToken cancellationToken)
    {
        await foreach (var output in engine.GenerateAsync(choice.Request, cancellationToken).ConfigureAwait(false))
        {
            yield return new ChoiceOutput(choice.Index, output);
        }
    }

    private static async IAsyncEnumerable<ChoiceOutput> MergedAsync(
        IInferenceEngine engine, IReadOnlyList<PlannedChoice> choices, [EnumeratorCancellation] CancellationToken cancellationToken)
    {
        var channel = Channel.CreateBounded<ChoiceOutput>(new BoundedChannelOptions(MergeCapacity)
        {
            SingleReader = true,
            SingleWriter = false,
            FullMode = BoundedChannelFullMode.Wait,
        });
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        var pumps = new Task[choices.Count];
        for (var i = 0; i < choices.Count; i++)
        {
            pumps[i] = PumpAsync(engine, choices[i], channel.Writer, stop.Token);
        }

        var completion = CompleteWhenDoneAsync(pumps, channel.Writer);
        try
        {
            await foreach (var item in channel.Reader.ReadAllAsync(stop.Token).ConfigureAwait(false))
            {
                yield return item;
            }
        }
        finally
        {
            // The reader left (finished, failed or cancelled): abort every choice still running.
            await stop.CancelAsync().ConfigureAwait(false);
            await completion.ConfigureAwait(false);
        }
    }

    private static async Task PumpAsync(IInferenceEngine engine, PlannedChoice choice, ChannelWriter<ChoiceOutput> writer, CancellationToken cancellationToken)
    {
        await foreach (var output in engine.GenerateAsync(choice.Request, cancellationToken).ConfigureAwait(false))
        {
            await writer.WriteAsync(new ChoiceOutput(choice.Index, output), cancellationToken).ConfigureAwait(false);
        }
    }

    private static async Task CompleteWhenDoneAsync(Task[] pumps, ChannelWriter<ChoiceOutput> writer)
    {
        try
        {
            await Task.WhenAll(pumps).ConfigureAwait(false);
            writer.TryComplete();
        }
        catch (Exception e)
        {
            // The first real failure (a dead engine) wins over the cancellations it caused in the other pumps.
            var failure = pumps.Select(p => p.Exception?.InnerException).FirstOrDefault(x => x is not null and not OperationCanceledException) ?? e;
            writer.TryComplete(failure);
        }
    }
}
