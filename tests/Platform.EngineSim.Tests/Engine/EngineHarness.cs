using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Time.Testing;
using Platform.EngineSim.Engine;
using Platform.EngineSim.Faults;
using Platform.EngineSim.Text;

namespace Platform.EngineSim.Tests.Engine;

/// <summary>
/// A <see cref="SimEngine"/> on a <see cref="FakeTimeProvider"/>, driven step by step from the test thread
/// (its loop is not started): every step advances the fake clock by exactly the step's simulated time, so
/// timings and counters are deterministic.
/// </summary>
internal sealed class EngineHarness : IDisposable
{
    private static readonly Lazy<SimTokenizer> SharedTokenizer = new(() => new SimTokenizer());
    private static readonly Lazy<TextGenerator> SharedGenerator = new(() => new TextGenerator(SharedTokenizer.Value));
    private int _requestCounter;

    public EngineHarness(EngineOptions? options = null, FaultSettings? faults = null)
    {
        Options = options ?? CreateOptions();
        Faults = new FaultController(faults ?? new FaultSettings());
        Engine = new SimEngine(Options, Faults, Tokenizer, Generator, Clock, NullLogger.Instance);
    }

    public static SimTokenizer Tokenizer => SharedTokenizer.Value;

    public static TextGenerator Generator => SharedGenerator.Value;

    public FakeTimeProvider Clock { get; } = new(new DateTimeOffset(2026, 1, 1, 0, 0, 0, TimeSpan.Zero));

    public EngineOptions Options { get; }

    public FaultController Faults { get; }

    public SimEngine Engine { get; }

    /// <summary>Durations of the steps run so far.</summary>
    public List<TimeSpan> StepDurations { get; } = [];

    public static EngineOptions CreateOptions(
        int blocks = 2048,
        int blockSize = 16,
        int maxNumSeqs = 64,
        int maxNumBatchedTokens = 8192,
        int maxModelLen = 8192,
        bool prefixCaching = true,
        SpeculativeConfig? speculative = null) => new()
        {
            Model = "meta-llama/Llama-3.1-8B-Instruct",
            ServedModelNames = ["llama-3.1-8b-instruct"],
            NumGpuBlocks = blocks,
            BlockSize = blockSize,
            MaxNumSeqs = maxNumSeqs,
            MaxNumBatchedTokens = maxNumBatchedTokens,
            MaxModelLen = maxModelLen,
            EnablePrefixCaching = prefixCaching,
            Speculative = speculative,
        };

    /// <summary>A request whose prompt is <paramref name="prompt"/> tokenized with cl100k_base.</summary>
    public EngineRequest Request(
        string prompt,
        int maxTokens = 64,
        bool ignoreEos = true,
        long? seed = 7,
        double temperature = 1.0,
        IReadOnlyList<string>? stop = null,
        bool includeStop = false,
        int minTokens = 0,
        int? logprobs = null) => new()
        {
            RequestId = "cmpl-" + Interlocked.Increment(ref _requestCounter),
            PromptText = prompt,
            PromptTokenIds = Tokenizer.Encode(prompt),
            MaxTokens = maxTokens,
            IgnoreEos = ignoreEos,
            Seed = seed,
            Temperature = temperature,
            Stop = stop ?? [],
            IncludeStopStrInOutput = includeStop,
            MinTokens = minTokens,
            Logprobs = logprobs,
            ArrivalTime = Clock.GetUtcNow(),
        };

    /// <summary>Admits the request now (synchronously) and collects its outputs in the background.</summary>
    public RequestRun Start(EngineRequest request, CancellationToken cancellationToken = default) =>
        RequestRun.Start(Engine, request, cancellationToken);

    /// <summary>Runs one step; false when the engine had nothing to run.</summary>
    public bool Step() => Engine.RunStep(duration =>
    {
        StepDurations.Add(duration);
        Clock.Advance(duration);
    });

    /// <summary>Steps until the engine is idle (or <paramref name="maxSteps"/>), calling <paramref name="afterStep"/> after each.</summary>
    public int RunToIdle(int maxSteps = 100_000, Action? afterStep = null)
    {
        var steps = 0;
        while (steps < maxSteps && Step())
        {
            steps++;
            afterStep?.Invoke();
        }

        Assert.True(steps < maxSteps, $"The engine was still busy after {maxSteps} steps.");
        return steps;
    }

    public string Metrics() => Engine.Metrics.Render();

    /// <summary>Polls <paramref name="condition"/> (consumers run on the thread pool) until it holds or 10 s pass.</summary>
    public static async Task WaitUntilAsync(Func<bool> condition, string because)
    {
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(10);
        while (!condition())
        {
            Assert.True(DateTime.UtcNow < deadline, "Timed out waiting until " + because);
            await Task.Delay(2);
        }
    }

    public void Dispose() => Engine.Dispose();
}

/// <summary>One request's outputs, collected as they arrive.</summary>
internal sealed class RequestRun
{
    private readonly List<StepOutput> _outputs = [];

    private RequestRun(EngineRequest request) => Request = request;

    public EngineRequest Request { get; }

    public Task Completion { get; private set; } = Task.CompletedTask;

    public IReadOnlyList<StepOutput> Outputs
    {
        get
        {
            lock (_outputs)
            {
                return [.. _outputs];
            }
        }
    }

    public static RequestRun Start(IInferenceEngine engine, EngineRequest request, CancellationToken cancellationToken)
    {
        var run = new RequestRun(request);
        var enumerator = engine.GenerateAsync(request, cancellationToken).GetAsyncEnumerator(cancellationToken);

        // The first MoveNextAsync runs the iterator up to its first wait: the request is admitted on return.
        var first = enumerator.MoveNextAsync();
        run.Completion = run.ConsumeAsync(enumerator, first);
        return run;
    }

    /// <summary>Waits (in real time, bounded) for the stream to end and returns its last output.</summary>
    public async Task<StepOutput> FinishedAsync()
    {
        await Completion.WaitAsync(TimeSpan.FromSeconds(30));
        var outputs = Outputs;
        Assert.NotEmpty(outputs);
        Assert.NotNull(outputs[^1].FinishReason);
        return outputs[^1];
    }

    public async Task<string> TextAsync()
    {
        await FinishedAsync();
        return string.Concat(Outputs.Select(o => o.Text));
    }

    private async Task ConsumeAsync(IAsyncEnumerator<StepOutput> enumerator, ValueTask<bool> first)
    {
        try
        {
            var hasNext = await first;
            while (hasNext)
            {
                lock (_outputs)
                {
                    _outputs.Add(enumerator.Current);
                }

                hasNext = await enumerator.MoveNextAsync();
            }
        }
        finally
        {
            await enumerator.DisposeAsync();
        }
    }
}
