using System.Globalization;
using System.Runtime.CompilerServices;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Platform.EngineSim.Faults;
using Platform.EngineSim.Metrics;
using Platform.EngineSim.Text;

namespace Platform.EngineSim.Engine;

/// <summary>
/// The simulated GPU engine, scheduled like vLLM V1: one loop runs steps; a step first serves the running
/// sequences in order (one decode each, or 1 + k tokens with speculative decoding, or the next prefill
/// chunk), preempting the newest running sequence when the KV cache has no block left (recompute: its
/// blocks are freed and it returns to the front of the waiting queue), then, if nothing was preempted,
/// admits waiting sequences first come first served while the batch has room (max_num_seqs), the token
/// budget lasts (max_num_batched_tokens, prefills are chunked) and their blocks fit. The step then "runs"
/// for the time the <see cref="LatencyModel"/> gives and its tokens are delivered.
/// <para>
/// Thread-safety: one lock guards the scheduler state; requests enqueue and abort under it, the loop plans
/// and completes steps under it and waits for the step time outside it. Outputs go to an unbounded channel
/// per request, so a slow consumer never stalls the batch (its tokens are bounded by max_tokens).
/// </para>
/// </summary>
internal sealed class SimEngine : IInferenceEngine, IHostedService, IDisposable
{
    private static readonly TimeSpan HangPollInterval = TimeSpan.FromMilliseconds(20);
    private static readonly TimeSpan IdlePollInterval = TimeSpan.FromSeconds(1);

    // Lateness of the previous step that the next one absorbs, at most (beyond it the engine is simply late).
    private static readonly TimeSpan MaxCatchUp = TimeSpan.FromMilliseconds(5);

    // Shorter waits are skipped: timers cannot sleep less than about a millisecond, the deadline carries the rest.
    private static readonly TimeSpan MinDelay = TimeSpan.FromMilliseconds(1);

    private readonly ISimTokenizer _tokenizer;
    private readonly TextGenerator _generator;
    private readonly TimeProvider _time;
    private readonly ILogger _logger;
    private readonly VllmMetrics _metrics;
    private readonly Lock _gate = new();
    private readonly KvBlockPool _pool;
    private readonly List<Sequence> _running = [];
    private readonly SequenceDeque _waiting = new();
    private readonly StepPlan _plan = new();
    private readonly List<int> _hitBlocks = [];
    private readonly Stack<int> _phantomBlocks = new();
    private readonly CancellationTokenSource _stopping = new();
    private readonly ulong _seedBase;
    private SimRandom _acceptanceRng;
    private SimRandom _faultRng;
    private int _waitingCount;
    private long _requestCounter;
    private long _steps;
    private double _lostBlocks;
    private DateTimeOffset _lastDriftUpdate;
    private TaskCompletionSource? _wake;
    private Task? _loop;
    private volatile bool _dead;

    public SimEngine(EngineOptions options, FaultController faults, ISimTokenizer tokenizer, TimeProvider timeProvider, ILogger<SimEngine> logger)
        : this(options, faults, tokenizer, new TextGenerator(tokenizer), timeProvider, logger)
    {
    }

    public SimEngine(EngineOptions options, FaultController faults, ISimTokenizer tokenizer, TextGenerator generator, TimeProvider timeProvider, ILogger logger)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentOutOfRangeException.ThrowIfLessThan(options.BlockSize, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(options.MaxNumSeqs, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(options.MaxNumBatchedTokens, 1);
        Options = options;
        Faults = faults;
        _tokenizer = tokenizer;
        _generator = generator;
        _time = timeProvider;
        _logger = logger;
        _pool = new KvBlockPool(options.NumGpuBlocks);
        _metrics = new VllmMetrics(options, timeProvider.GetUtcNow());
        _seedBase = SimRandom.Mix((ulong)options.SimSeed);
        _acceptanceRng = new SimRandom(SimRandom.Mix(_seedBase ^ 0xA5A5A5A5UL));
        _faultRng = new SimRandom(SimRandom.Mix(_seedBase ^ 0x5A5A5A5AUL));
        _lastDriftUpdate = timeProvider.GetUtcNow();
    }

    public EngineOptions Options { get; }

    public FaultController Faults { get; }

    public bool IsDead => _dead;

    /// <summary>The metric registry (tests parse its exposition; the engine is its only writer).</summary>
    internal VllmMetrics Metrics => _metrics;

    public IAsyncEnumerable<StepOutput> GenerateAsync(EngineRequest request, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(request);
        if (_dead)
        {
            throw new EngineDeadException();
        }

        var promptTokens = request.PromptTokenIds.Length;
        if (promptTokens == 0)
        {
            throw new ArgumentException("The prompt has no tokens.", nameof(request));
        }

        if (request.MaxTokens < 1)
        {
            throw new ArgumentException($"max_tokens must be at least 1, got {request.MaxTokens}.", nameof(request));
        }

        var promptBlocks = BlocksFor(promptTokens);
        if (promptBlocks > _pool.Total)
        {
            throw new ArgumentException(
                $"The prompt ({promptTokens} tokens) needs {promptBlocks} KV-cache blocks of {Options.BlockSize} tokens, " +
                $"but the whole cache has {_pool.Total} blocks ({(long)_pool.Total * Options.BlockSize} tokens).",
                nameof(request));
        }

        return GenerateCoreAsync(request, cancellationToken);
    }

    public void WriteMetrics(TextWriter writer) => _metrics.WriteTo(writer);

    public EngineSnapshot Snapshot()
    {
        lock (_gate)
        {
            long prompt;
            long generation;
            long preemptions;
            lock (_metrics.Sync)
            {
                prompt = (long)_metrics.PromptTokens.Value;
                generation = (long)_metrics.GenerationTokens.Value;
                preemptions = (long)_metrics.NumPreemptions.Value;
            }

            return new EngineSnapshot(
                _running.Count,
                _waitingCount,
                _pool.Total,
                UsableBlocksLocked(),
                _pool.UsedCount,
                (double)_pool.UsedCount / _pool.Total,
                preemptions,
                prompt,
                generation,
                _steps,
                _dead);
        }
    }

    public void MarkDead()
    {
        var victims = new List<Sequence>();
        lock (_gate)
        {
            if (_dead)
            {
                return;
            }

            _dead = true;
            victims.AddRange(_running);
            _waiting.CopyWaitingTo(victims);
            foreach (var sequence in _running)
            {
                ReleaseBlocks(sequence);
            }

            foreach (var sequence in victims)
            {
                sequence.State = SequenceState.Finished;
            }

            _running.Clear();
            _waiting.Clear();
            _waitingCount = 0;
            UpdateGaugesLocked();
            WakeLocked();
        }

        foreach (var sequence in victims)
        {
            sequence.Output.Writer.TryComplete(new EngineDeadException());
        }

        EngineLog.MarkedDead(_logger, victims.Count);
    }

    public Task StartAsync(CancellationToken cancellationToken)
    {
        EngineLog.Started(
            _logger,
            Options.PrimaryModelName,
            Options.NumGpuBlocks,
            Options.BlockSize,
            Options.MaxNumSeqs,
            Options.EnablePrefixCaching,
            Options.Speculative is { } s ? string.Create(CultureInfo.InvariantCulture, $"{s.Method} k={s.NumSpeculativeTokens} draft={s.DraftKind}") : "off");
        _loop = Task.Run(() => RunLoopAsync(_stopping.Token), CancellationToken.None);
        return Task.CompletedTask;
    }

    public async Task StopAsync(CancellationToken cancellationToken)
    {
        await _stopping.CancelAsync().ConfigureAwait(false);
        if (_loop is { } loop)
        {
            await loop.WaitAsync(cancellationToken).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
        }

        EngineLog.Stopped(_logger, Interlocked.Read(ref _steps));
    }

    public void Dispose() => _stopping.Dispose();

    /// <summary>
    /// Runs one step on the calling thread: plans it, lets <paramref name="advanceClock"/> move a fake clock
    /// by the step time, then completes it. For tests that drive the engine without its loop; returns false
    /// when there was nothing to run (idle, hung, or everything waiting for blocks).
    /// </summary>
    internal bool RunStep(Action<TimeSpan> advanceClock)
    {
        TimeSpan duration;
        lock (_gate)
        {
            if (!PlanStepLocked())
            {
                return false;
            }

            duration = _plan.Duration;
        }

        advanceClock(duration);
        lock (_gate)
        {
            CompleteStepLocked();
        }

        return true;
    }

    /// <summary>Request ids in the running batch (scheduling order) and in the waiting queue (front first).</summary>
    internal (string[] Running, string[] Waiting) Queues()
    {
        lock (_gate)
        {
            var waiting = new List<Sequence>();
            _waiting.CopyWaitingTo(waiting);
            return ([.. _running.Select(s => s.Request.RequestId)], [.. waiting.Select(s => s.Request.RequestId)]);
        }
    }

    private async IAsyncEnumerable<StepOutput> GenerateCoreAsync(EngineRequest request, [EnumeratorCancellation] CancellationToken cancellationToken)
    {
        cancellationToken.ThrowIfCancellationRequested();
        var sequence = CreateSequence(request);
        Enqueue(sequence);
        using var registration = cancellationToken.UnsafeRegister(static (state, _) => ((AbortState)state!).Abort(), new AbortState(this, sequence));
        var reader = sequence.Output.Reader;
        try
        {
            while (await reader.WaitToReadAsync(cancellationToken).ConfigureAwait(false))
            {
                while (reader.TryRead(out var output))
                {
                    yield return output;
                }
            }

            if (sequence.Aborted)
            {
                cancellationToken.ThrowIfCancellationRequested();
                throw new OperationCanceledException("The request was aborted.");
            }
        }
        finally
        {
            Abort(sequence);
        }
    }

    private Sequence CreateSequence(EngineRequest request)
    {
        var kind = PromptClassifier.Classify(request.PromptText);
        var counter = (ulong)Interlocked.Increment(ref _requestCounter);
        var randomSeed = SimRandom.Mix(_seedBase ^ (counter * 0x9E3779B97F4A7C15UL));
        var seed = TextGenerator.EffectiveSeed(request.Seed, request.Temperature, request.PromptText, randomSeed);
        var cursor = _generator.Start(seed, kind, request.PromptText);
        return new Sequence(request, kind, cursor, Options.EnablePrefixCaching ? HashPromptBlocks(request.PromptTokenIds, Options.BlockSize) : []);
    }

    /// <summary>vLLM's block hash chain: each full block hashes the previous block's hash and its token ids.</summary>
    private static ulong[] HashPromptBlocks(int[] tokens, int blockSize)
    {
        var hashes = new ulong[tokens.Length / blockSize];
        var previous = 0x6A09E667F3BCC908UL;
        for (var block = 0; block < hashes.Length; block++)
        {
            var h = previous;
            var start = block * blockSize;
            for (var i = start; i < start + blockSize; i++)
            {
                h = (h ^ (uint)tokens[i]) * 0x100000001B3UL;
            }

            previous = hashes[block] = SimRandom.Mix(h ^ previous);
        }

        return hashes;
    }

    private void Enqueue(Sequence sequence)
    {
        lock (_gate)
        {
            if (_dead)
            {
                throw new EngineDeadException();
            }

            sequence.QueuedAt = _time.GetUtcNow();
            _waiting.PushBack(sequence);
            _waitingCount++;
            UpdateGaugesLocked();
            WakeLocked();
        }
    }

    /// <summary>Removes the sequence at once (client gone): frees its blocks; nothing per-request is recorded.</summary>
    private void Abort(Sequence sequence)
    {
        lock (_gate)
        {
            if (sequence.State == SequenceState.Finished)
            {
                return;
            }

            if (sequence.State == SequenceState.Waiting)
            {
                _waitingCount--;
            }
            else
            {
                _running.Remove(sequence);
                ReleaseBlocks(sequence);
            }

            sequence.State = SequenceState.Finished;
            sequence.Aborted = true;
            UpdateGaugesLocked();
            WakeLocked();
        }

        sequence.Output.Writer.TryComplete();
        EngineLog.Aborted(_logger, sequence.Request.RequestId);
    }

    private async Task RunLoopAsync(CancellationToken cancellationToken)
    {
        // Steps are paced against deadlines, not slept one after the other: a timer that fires late (they
        // fire up to a millisecond late) shortens the next wait, so the mean step time is the model's.
        var maxCatchUp = (long)(_time.TimestampFrequency * MaxCatchUp.TotalSeconds);
        long previousDeadline = 0;
        try
        {
            while (!cancellationToken.IsCancellationRequested)
            {
                var started = _time.GetTimestamp();
                Task? wake = null;
                var pollInterval = IdlePollInterval;
                bool planned;
                lock (_gate)
                {
                    planned = PlanStepLocked();
                    if (!planned)
                    {
                        _wake ??= new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
                        wake = _wake.Task;
                        if (Faults.Current.Hang || _waitingCount > 0)
                        {
                            pollInterval = HangPollInterval;
                        }
                    }
                }

                if (planned)
                {
                    // The step's own CPU time is part of the simulated GPU time, not added to it.
                    var start = Math.Max(previousDeadline, started - maxCatchUp);
                    var deadline = start + (long)(_plan.Duration.TotalSeconds * _time.TimestampFrequency);
                    previousDeadline = deadline;
                    var remaining = _time.GetTimestamp() is var now && deadline > now
                        ? TimeSpan.FromSeconds((double)(deadline - now) / _time.TimestampFrequency)
                        : TimeSpan.Zero;
                    if (remaining >= MinDelay)
                    {
                        await Task.Delay(remaining, _time, cancellationToken).ConfigureAwait(false);
                    }

                    lock (_gate)
                    {
                        CompleteStepLocked();
                    }
                }
                else
                {
                    previousDeadline = 0;
                    using var poll = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
                    await Task.WhenAny(wake!, Task.Delay(pollInterval, _time, poll.Token)).ConfigureAwait(false);
                    await poll.CancelAsync().ConfigureAwait(false);
                }
            }
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            // Stopping.
        }
        catch (Exception ex)
        {
            EngineLog.LoopFailed(_logger, ex);
            MarkDead();
        }
    }

    private void WakeLocked()
    {
        if (_wake is { } wake)
        {
            _wake = null;
            wake.TrySetResult();
        }
    }

    private int BlocksFor(int tokens) => (tokens + Options.BlockSize - 1) / Options.BlockSize;

    private int UsableBlocksLocked() => _pool.Total - Math.Min(_pool.Total, (int)Math.Floor(_lostBlocks));

    /// <summary>Plans the next step into <see cref="_plan"/>; false when there is nothing to run.</summary>
    private bool PlanStepLocked()
    {
        _plan.Clear();
        if (_dead)
        {
            return false;
        }

        var faults = Faults.Current;
        ApplyKvDriftLocked(faults);
        if (faults.Hang)
        {
            return false;
        }

        var budget = Options.MaxNumBatchedTokens;
        var preempted = false;
        var speculative = Options.Speculative;
        long decodeContext = 0;
        var draftTokens = 0;

        // 1) Running sequences, oldest first.
        for (var i = 0; i < _running.Count && budget > 0; i++)
        {
            var sequence = _running[i];
            int numNew;
            var drafts = 0;
            if (sequence.PrefillDone)
            {
                if (speculative is not null)
                {
                    drafts = Math.Clamp(Options.MaxModelLen - sequence.NumTokens - 1, 0, speculative.NumSpeculativeTokens);
                }

                numNew = Math.Min(1 + drafts, budget);
                drafts = numNew - 1;
            }
            else
            {
                numNew = Math.Min(sequence.NumTokens - sequence.NumComputed, budget);
            }

            var selfPreempted = false;
            while (!TryGrowLocked(sequence, sequence.NumComputed + numNew))
            {
                var victim = _running[^1];
                if (victim == sequence && _running.Count == 1 && BlocksFor(sequence.NumComputed + numNew) > _pool.Total)
                {
                    // It can never fit, even alone (vLLM refuses such a max_model_len at start-up).
                    EngineLog.OutgrewCache(_logger, sequence.Request.RequestId, BlocksFor(sequence.NumComputed + numNew), _pool.Total);
                    FinishLocked(sequence, FinishReason.Length, null, [], string.Empty);
                    _running.RemoveAt(_running.Count - 1);
                    selfPreempted = true;
                    break;
                }

                _running.RemoveAt(_running.Count - 1);
                PreemptLocked(victim);
                preempted = true;
                if (victim == sequence)
                {
                    selfPreempted = true;
                    break;
                }
            }

            if (selfPreempted)
            {
                break;
            }

            _plan.Entries.Add(new StepEntry(sequence, numNew, drafts, !sequence.PrefillDone));
            budget -= numNew;
            if (sequence.PrefillDone)
            {
                _plan.Decodes++;
                decodeContext += sequence.NumTokens;
                draftTokens += drafts;
            }
            else
            {
                _plan.PrefillTokens += numNew;
            }
        }

        // 2) Waiting sequences, first come first served; none in a step that had to preempt.
        if (!preempted)
        {
            var now = _time.GetUtcNow();
            while (budget > 0 && _running.Count < Options.MaxNumSeqs && _waiting.PeekWaiting() is { } sequence)
            {
                var hitTokens = FindCachedPrefixLocked(sequence);
                var numNew = Math.Min(sequence.NumTokens - hitTokens, budget);
                var newBlocks = BlocksFor(hitTokens + numNew) - _hitBlocks.Count;
                var revived = 0;
                foreach (var block in _hitBlocks)
                {
                    if (_pool.IsFree(block))
                    {
                        revived++;
                    }
                }

                if (newBlocks + revived > _pool.FreeCount)
                {
                    break;
                }

                _waiting.PopFront();
                _waitingCount--;
                foreach (var block in _hitBlocks)
                {
                    _pool.Touch(block);
                    sequence.AddBlock(block);
                }

                for (var b = 0; b < newBlocks; b++)
                {
                    sequence.AddBlock(_pool.Allocate());
                }

                sequence.NumComputed = hitTokens;
                sequence.RegisteredBlocks = _hitBlocks.Count;
                sequence.PrefillDone = false;
                sequence.State = SequenceState.Running;
                if (sequence.ScheduledAt is null)
                {
                    sequence.ScheduledAt = now;
                    sequence.CachedPromptTokens = hitTokens;
                }

                if (!sequence.Preempted && Options.EnablePrefixCaching)
                {
                    lock (_metrics.Sync)
                    {
                        _metrics.PrefixCacheQueries.Inc(sequence.NumTokens);
                        _metrics.PrefixCacheHits.Inc(hitTokens);
                    }
                }

                _running.Add(sequence);
                _plan.Entries.Add(new StepEntry(sequence, numNew, 0, Prefill: true));
                _plan.PrefillTokens += numNew;
                budget -= numNew;
            }
        }

        UpdateGaugesLocked();
        if (_plan.Entries.Count == 0)
        {
            return false;
        }

        _plan.Duration = StepTime(faults, _plan.Decodes, decodeContext, _plan.PrefillTokens, draftTokens);
        return true;
    }

    private TimeSpan StepTime(FaultSettings faults, int decodes, long decodeContext, int prefillTokens, int draftTokens)
    {
        var latency = Options.Latency;
        var ms = latency.DecodeBaseMs
            + (latency.DecodePerSeqMs * decodes)
            + (latency.DecodePerKvTokenMs * decodeContext)
            + (latency.PrefillPerTokenMs * prefillTokens);
        if (draftTokens > 0 && Options.Speculative is { } speculative)
        {
            ms += (latency.SpecDraftStepMs * speculative.NumSpeculativeTokens) + (latency.SpecPerDraftTokenMs * draftTokens);
        }

        ms *= faults.Slowdown > 0 ? faults.Slowdown : 1.0;
        if (faults.LatencySpikeRate > 0 && _faultRng.NextDouble() < faults.LatencySpikeRate)
        {
            ms += faults.LatencySpikeMs;
        }

        ms /= latency.Speedup > 0 ? latency.Speedup : 1.0;
        return TimeSpan.FromTicks((long)(ms * TimeSpan.TicksPerMillisecond));
    }

    /// <summary>
    /// The leading full prompt blocks already in the cache, into <see cref="_hitBlocks"/>; returns the cached
    /// tokens. As in vLLM, at least the last token is always recomputed (a full hit still needs one forward).
    /// </summary>
    private int FindCachedPrefixLocked(Sequence sequence)
    {
        _hitBlocks.Clear();
        if (!Options.EnablePrefixCaching)
        {
            return 0;
        }

        var hashes = sequence.PromptBlockHashes;
        var limit = Math.Min(hashes.Length, (sequence.NumTokens - 1) / Options.BlockSize);
        for (var i = 0; i < limit && _pool.TryGetCached(hashes[i], out var block); i++)
        {
            _hitBlocks.Add(block);
        }

        return _hitBlocks.Count * Options.BlockSize;
    }

    /// <summary>Gives the sequence blocks for <paramref name="tokens"/> tokens; false when not enough are free.</summary>
    private bool TryGrowLocked(Sequence sequence, int tokens)
    {
        var needed = BlocksFor(tokens) - sequence.BlockCount;
        if (needed <= 0)
        {
            return true;
        }

        if (needed > _pool.FreeCount)
        {
            return false;
        }

        for (var i = 0; i < needed; i++)
        {
            sequence.AddBlock(_pool.Allocate());
        }

        return true;
    }

    /// <summary>Recompute preemption: the blocks go, the sequence returns to the front of the queue.</summary>
    private void PreemptLocked(Sequence sequence)
    {
        ReleaseBlocks(sequence);
        sequence.NumComputed = 0;
        sequence.RegisteredBlocks = 0;
        sequence.PrefillDone = false;
        sequence.Preempted = true;
        sequence.State = SequenceState.Waiting;
        _waiting.PushFront(sequence);
        _waitingCount++;
        lock (_metrics.Sync)
        {
            _metrics.NumPreemptions.Inc();
        }

        EngineLog.Preempted(_logger, sequence.Request.RequestId, _running.Count, _waitingCount);
    }

    /// <summary>Frees the sequence's blocks, last block first, so its tail is evicted before its prefix.</summary>
    private void ReleaseBlocks(Sequence sequence)
    {
        var blocks = sequence.Blocks;
        for (var i = blocks.Length - 1; i >= 0; i--)
        {
            _pool.Release(blocks[i]);
        }

        sequence.ClearBlocks();
    }

    /// <summary>
    /// The kvDrift fault: usable blocks shrink by KvDrift per second while it is set, and what is lost stays
    /// lost until the process restarts. Lost blocks are taken from the free queue (evicting cached prefixes)
    /// and, when none is free, from the newest running sequences, which are preempted.
    /// </summary>
    private void ApplyKvDriftLocked(FaultSettings faults)
    {
        var now = _time.GetUtcNow();
        var elapsed = (now - _lastDriftUpdate).TotalSeconds;
        _lastDriftUpdate = now;
        if (faults.KvDrift > 0 && elapsed > 0)
        {
            _lostBlocks += faults.KvDrift * elapsed;
        }

        var target = _pool.Total - UsableBlocksLocked();
        while (_phantomBlocks.Count < target)
        {
            if (_pool.FreeCount > 0)
            {
                _phantomBlocks.Push(_pool.Allocate());
            }
            else if (_running.Count > 0)
            {
                var victim = _running[^1];
                _running.RemoveAt(_running.Count - 1);
                PreemptLocked(victim);
            }
            else
            {
                break;
            }
        }
    }

    /// <summary>Delivers the planned step: advances every sequence, samples tokens, finishes what ended.</summary>
    private void CompleteStepLocked()
    {
        _steps++;
        var now = _time.GetUtcNow();
        var iterationTokens = 0;
        lock (_metrics.Sync)
        {
            foreach (var entry in _plan.Entries)
            {
                var sequence = entry.Sequence;
                if (sequence.State != SequenceState.Running)
                {
                    continue; // aborted while the step ran
                }

                int emit;
                if (entry.Prefill)
                {
                    sequence.NumComputed += entry.NumNewTokens;
                    RegisterPromptBlocksLocked(sequence);
                    if (sequence.NumComputed < sequence.NumTokens)
                    {
                        continue; // a chunk of a longer prefill: no token yet
                    }

                    sequence.PrefillDone = true;
                    emit = 1;
                }
                else
                {
                    var accepted = entry.DraftTokens > 0 ? DrawAcceptedLocked(sequence, entry.DraftTokens) : 0;
                    emit = accepted + 1;
                }

                iterationTokens += EmitLocked(sequence, emit, now);
            }

            if (iterationTokens > 0)
            {
                _metrics.IterationTokens.Observe(iterationTokens);
            }
        }

        _running.RemoveAll(static s => s.State != SequenceState.Running);
        UpdateGaugesLocked();
    }

    /// <summary>Speculative decoding: accepts a prefix of the drafts, each with the kind-dependent probability.</summary>
    private int DrawAcceptedLocked(Sequence sequence, int drafts)
    {
        var speculative = Options.Speculative!;
        var p = sequence.Kind == speculative.DraftKind ? speculative.AcceptanceMatched : speculative.AcceptanceMismatched;
        var accepted = 0;
        while (accepted < drafts && _acceptanceRng.NextDouble() < p)
        {
            accepted++;
        }

        _metrics.SpecDecodeNumDrafts!.Inc();
        _metrics.SpecDecodeNumDraftTokens!.Inc(drafts);
        _metrics.SpecDecodeNumAcceptedTokens!.Inc(accepted);
        var perPos = _metrics.SpecDecodeNumAcceptedTokensPerPos!;
        for (var i = 0; i < accepted; i++)
        {
            perPos[i].Inc();
        }

        return accepted;
    }

    private void RegisterPromptBlocksLocked(Sequence sequence)
    {
        var hashes = sequence.PromptBlockHashes;
        if (hashes.Length == 0)
        {
            return;
        }

        var full = Math.Min(hashes.Length, Math.Min(sequence.NumComputed, sequence.PromptLength) / Options.BlockSize);
        var blocks = sequence.Blocks;
        for (var i = sequence.RegisteredBlocks; i < full; i++)
        {
            _pool.Register(blocks[i], hashes[i]);
        }

        sequence.RegisteredBlocks = Math.Max(sequence.RegisteredBlocks, full);
    }

    /// <summary>
    /// Samples up to <paramref name="count"/> tokens, applying vLLM's stop checks per token (length first,
    /// then stop strings, then EOS), delivers them as one output and returns the iteration tokens it counts.
    /// </summary>
    private int EmitLocked(Sequence sequence, int count, DateTimeOffset now)
    {
        var request = sequence.Request;
        var cursor = sequence.Cursor;
        var tokens = new GeneratedToken[count];
        var emitted = 0;
        FinishReason? finish = null;
        string? stopReason = null;
        var eosAt = Math.Max(cursor.NaturalLength, request.MinTokens);
        while (emitted < count && finish is null)
        {
            var position = sequence.Generated;
            var eos = !request.IgnoreEos && position + 1 >= eosAt;
            int id;
            string text;
            if (eos)
            {
                id = SimTokenizer.EndOfTextTokenId;
                text = string.Empty;
            }
            else
            {
                id = cursor.NextToken();
                text = _tokenizer.DecodeToken(id);
            }

            tokens[emitted++] = _generator.MakeToken(id, text, cursor.Seed, position, request.Logprobs);
            sequence.Generated++;
            if (sequence.Stops is not null)
            {
                sequence.AppendText(text);
                if (sequence.Generated > request.MinTokens && FindStop(sequence, text.Length) is { } stop)
                {
                    finish = FinishReason.Stop;
                    stopReason = stop;
                    break;
                }
            }

            if (sequence.Generated >= request.MaxTokens || sequence.NumTokens >= Options.MaxModelLen)
            {
                finish = FinishReason.Length;
            }
            else if (eos)
            {
                finish = FinishReason.Stop;
            }
        }

        if (emitted < tokens.Length)
        {
            Array.Resize(ref tokens, emitted);
        }

        sequence.NumComputed = sequence.NumTokens - 1;
        var iterationTokens = emitted;
        if (sequence.FirstTokenAt is null)
        {
            // vLLM counts the prompt when the first token comes out (cached tokens included).
            sequence.FirstTokenAt = now;
            _metrics.TimeToFirstToken.Observe(Seconds(now - request.ArrivalTime));
            _metrics.PromptTokens.Inc(sequence.PromptLength);
            iterationTokens += sequence.PromptLength;
        }
        else
        {
            var interTokenLatency = Seconds(now - sequence.LastTokenAt);
            _metrics.InterTokenLatency.Observe(interTokenLatency);
            _metrics.TimePerOutputToken.Observe(interTokenLatency);
        }

        sequence.LastTokenAt = now;
        _metrics.GenerationTokens.Inc(emitted);

        string outputText;
        if (sequence.Stops is null)
        {
            outputText = emitted == 1 ? tokens[0].Text : ConcatTexts(tokens);
        }
        else
        {
            // Hold back what could still become a stop string (vLLM's stop_buffer_length).
            var holdBack = finish is null && !request.IncludeStopStrInOutput ? sequence.LongestStop - 1 : 0;
            var end = Math.Max(sequence.SentChars, sequence.TextLength - holdBack);
            outputText = end > sequence.SentChars ? new string(sequence.Text[sequence.SentChars..end]) : string.Empty;
            sequence.SentChars = end;
        }

        if (finish is { } reason)
        {
            FinishLocked(sequence, reason, stopReason, tokens, outputText);
        }
        else
        {
            sequence.Output.Writer.TryWrite(new StepOutput
            {
                Tokens = tokens,
                Text = outputText,
                PromptTokens = sequence.PromptLength,
                CompletionTokens = sequence.Generated,
                CachedPromptTokens = sequence.CachedPromptTokens,
            });
        }

        return iterationTokens;
    }

    /// <summary>vLLM's check_stop_strings over the text the last token added: the first stop string (in list order) found.</summary>
    private static string? FindStop(Sequence sequence, int newChars)
    {
        var text = sequence.Text;
        foreach (var stop in sequence.Stops!)
        {
            var from = Math.Max(0, text.Length - newChars - stop.Length + 1);
            var index = text[from..].IndexOf(stop, StringComparison.Ordinal);
            if (index < 0)
            {
                continue;
            }

            index += from;
            if (sequence.Request.IncludeStopStrInOutput)
            {
                index += stop.Length;
            }

            sequence.TruncateText(index);
            return stop;
        }

        return null;
    }

    /// <summary>Ends a running sequence: last output, blocks freed, per-request metrics (caller holds the metrics lock or takes none).</summary>
    private void FinishLocked(Sequence sequence, FinishReason reason, string? stopReason, GeneratedToken[] tokens, string text)
    {
        sequence.State = SequenceState.Finished;
        ReleaseBlocks(sequence);
        if (sequence.FirstTokenAt is { } first)
        {
            var now = sequence.LastTokenAt;
            var scheduled = sequence.ScheduledAt ?? sequence.QueuedAt;
            var stats = new FinishedRequestStats(
                reason,
                E2eSeconds: Seconds(_time.GetUtcNow() - sequence.Request.ArrivalTime),
                QueuedSeconds: Seconds(scheduled - sequence.QueuedAt),
                PrefillSeconds: Seconds(first - scheduled),
                DecodeSeconds: Seconds(now - first),
                InferenceSeconds: Seconds(now - scheduled),
                PromptTokens: sequence.PromptLength,
                GenerationTokens: sequence.Generated,
                MaxTokensParam: sequence.Request.MaxTokens);
            lock (_metrics.Sync)
            {
                _metrics.RecordFinished(stats);
            }
        }

        sequence.Output.Writer.TryWrite(new StepOutput
        {
            Tokens = tokens,
            Text = text,
            FinishReason = reason,
            StopReason = stopReason,
            PromptTokens = sequence.PromptLength,
            CompletionTokens = sequence.Generated,
            CachedPromptTokens = sequence.CachedPromptTokens,
        });
        sequence.Output.Writer.TryComplete();
    }

    private void UpdateGaugesLocked()
    {
        lock (_metrics.Sync)
        {
            _metrics.NumRequestsRunning.Value = _running.Count;
            _metrics.NumRequestsWaiting.Value = _waitingCount;
            _metrics.KvCacheUsagePerc.Value = (double)_pool.UsedCount / _pool.Total;
        }
    }

    private static string ConcatTexts(GeneratedToken[] tokens)
    {
        var length = 0;
        foreach (var token in tokens)
        {
            length += token.Text.Length;
        }

        return string.Create(length, tokens, static (span, state) =>
        {
            foreach (var token in state)
            {
                token.Text.CopyTo(span);
                span = span[token.Text.Length..];
            }
        });
    }

    private static double Seconds(TimeSpan span) => Math.Max(0, span.TotalSeconds);

    private sealed class AbortState(SimEngine engine, Sequence sequence)
    {
        public void Abort() => engine.Abort(sequence);
    }
}
