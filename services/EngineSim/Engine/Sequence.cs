using System.Threading.Channels;
using Platform.EngineSim.Text;

namespace Platform.EngineSim.Engine;

internal enum SequenceState
{
    Waiting,
    Running,
    Finished,
}

/// <summary>
/// One request inside the engine (vLLM's Request): its tokens, KV blocks, progress and timestamps. Every
/// field is read and written under the engine's scheduler lock, except <see cref="Output"/> (a channel).
/// </summary>
internal sealed class Sequence
{
    private int[] _blocks = new int[4];
    private char[]? _text;

    public Sequence(EngineRequest request, PromptKind kind, TextCursor cursor, ulong[] promptBlockHashes)
    {
        Request = request;
        Kind = kind;
        Cursor = cursor;
        PromptBlockHashes = promptBlockHashes;
        if (request.Stop.Count > 0)
        {
            Stops = [.. request.Stop];
            var longest = 0;
            foreach (var stop in Stops)
            {
                longest = Math.Max(longest, stop.Length);
            }

            LongestStop = longest;
            _text = new char[256];
        }

        Output = Channel.CreateUnbounded<StepOutput>(new UnboundedChannelOptions
        {
            SingleReader = true,
            SingleWriter = false,
            AllowSynchronousContinuations = false,
        });
    }

    public EngineRequest Request { get; }

    public PromptKind Kind { get; }

    public TextCursor Cursor { get; }

    /// <summary>Chained hashes of the prompt's full blocks (empty when prefix caching is off).</summary>
    public ulong[] PromptBlockHashes { get; }

    public Channel<StepOutput> Output { get; }

    public SequenceState State { get; set; } = SequenceState.Waiting;

    public bool Aborted { get; set; }

    /// <summary>Preempted at least once (vLLM keeps such requests out of the prefix-cache counters).</summary>
    public bool Preempted { get; set; }

    /// <summary>The prompt (or, after a preemption, prompt and output) has been computed; decoding.</summary>
    public bool PrefillDone { get; set; }

    public int PromptLength => Request.PromptTokenIds.Length;

    public int Generated { get; set; }

    /// <summary>Prompt plus generated tokens.</summary>
    public int NumTokens => PromptLength + Generated;

    /// <summary>Tokens whose KV is in the cache.</summary>
    public int NumComputed { get; set; }

    /// <summary>Prompt blocks already registered in the prefix cache.</summary>
    public int RegisteredBlocks { get; set; }

    public int CachedPromptTokens { get; set; }

    public ReadOnlySpan<int> Blocks => _blocks.AsSpan(0, BlockCount);

    public int BlockCount { get; private set; }

    public string[]? Stops { get; }

    public int LongestStop { get; }

    /// <summary>Characters of output text already sent (only tracked when there are stop strings).</summary>
    public int SentChars { get; set; }

    public int TextLength { get; private set; }

    public ReadOnlySpan<char> Text => _text.AsSpan(0, TextLength);

    public DateTimeOffset QueuedAt { get; set; }

    public DateTimeOffset? ScheduledAt { get; set; }

    public DateTimeOffset? FirstTokenAt { get; set; }

    public DateTimeOffset LastTokenAt { get; set; }

    public void AddBlock(int block)
    {
        if (BlockCount == _blocks.Length)
        {
            Array.Resize(ref _blocks, _blocks.Length * 2);
        }

        _blocks[BlockCount++] = block;
    }

    public void ClearBlocks() => BlockCount = 0;

    public void AppendText(string text)
    {
        if (_text is null)
        {
            return;
        }

        if (TextLength + text.Length > _text.Length)
        {
            Array.Resize(ref _text, Math.Max(_text.Length * 2, TextLength + text.Length));
        }

        text.CopyTo(_text.AsSpan(TextLength));
        TextLength += text.Length;
    }

    public void TruncateText(int length) => TextLength = Math.Min(TextLength, length);
}
