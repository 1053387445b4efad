using Platform.EngineSim.Engine;

namespace Platform.EngineSim.Text;

/// <summary>
/// Produces plausible completions without a model: an endless walk over a tokenized corpus (prose for
/// general prompts, code for code prompts) that starts at a seed-chosen segment and, at segment boundaries
/// (sentence ends, blank lines), jumps to another seed-chosen segment. The same seed, kind and prompt give
/// the same tokens; different seeds give different walks. The corpus is tokenized once, at construction;
/// a walk then costs an array read per token. Thread-safe (cursors are per request).
/// </summary>
internal sealed class TextGenerator
{
    /// <summary>Median natural response length in tokens (EOS included), lognormal around it.</summary>
    public const int MedianLength = 250;

    private const double LengthSigma = 0.55;
    private const int MinNaturalLength = 16;
    private const int MaxNaturalLength = 4096;
    private const double ProseJumpProbability = 0.35;
    private const double CodeJumpProbability = 0.5;

    private readonly ISimTokenizer _tokenizer;
    private readonly SegmentedCorpus _prose;
    private readonly SegmentedCorpus[] _code;
    private readonly string[] _codeLanguages;
    private readonly int[][] _codeFences;
    private readonly int[][] _leadIns;
    private readonly int[] _alternatives;

    public TextGenerator(ISimTokenizer tokenizer)
    {
        _tokenizer = tokenizer;
        _prose = SegmentedCorpus.Create(tokenizer, SplitSentences(Corpus.Prose));
        _code = new SegmentedCorpus[Corpus.Code.Length];
        _codeLanguages = new string[Corpus.Code.Length];
        _codeFences = new int[Corpus.Code.Length][];
        for (var i = 0; i < Corpus.Code.Length; i++)
        {
            var (language, source) = Corpus.Code[i];
            _codeLanguages[i] = language;
            _code[i] = SegmentedCorpus.Create(tokenizer, SplitBlocks(source));
            _codeFences[i] = tokenizer.Encode("```" + language + "\n");
        }

        _leadIns = new int[Corpus.CodeLeadIns.Length][];
        for (var i = 0; i < _leadIns.Length; i++)
        {
            _leadIns[i] = tokenizer.Encode(Corpus.CodeLeadIns[i]);
        }

        _alternatives = DistinctTokens(_prose.Tokens, 512);
    }

    public ISimTokenizer Tokenizer => _tokenizer;

    /// <summary>
    /// The sampling seed of a request: greedy decoding (temperature 0) depends only on the prompt; a given
    /// seed with the prompt; no seed at temperature > 0 is random, as in vLLM.
    /// </summary>
    public static ulong EffectiveSeed(long? seed, double temperature, string promptText, ulong randomSeed)
    {
        var promptHash = SimRandom.Hash(promptText);
        if (temperature <= 0)
        {
            return promptHash;
        }

        return seed is { } s ? SimRandom.Mix(promptHash ^ SimRandom.Mix((ulong)s)) : randomSeed;
    }

    /// <summary>Starts a walk; <paramref name="promptText"/> may name the code language.</summary>
    public TextCursor Start(ulong seed, PromptKind kind, string promptText)
    {
        var rng = new SimRandom(seed);
        var lengthRng = new SimRandom(SimRandom.Mix(seed ^ 0x5851F42D4C957F2DUL));
        var natural = (int)Math.Round(Math.Exp(Math.Log(MedianLength) + (LengthSigma * lengthRng.NextGaussian())));
        natural = Math.Clamp(natural, MinNaturalLength, MaxNaturalLength);
        if (kind == PromptKind.Code)
        {
            var requested = PromptClassifier.RequestedLanguage(promptText);
            var language = requested is null ? rng.Next(_code.Length) : Math.Max(0, Array.IndexOf(_codeLanguages, requested));
            var leadIn = _leadIns[rng.Next(_leadIns.Length)];
            var fence = _codeFences[language];
            var preface = new int[leadIn.Length + fence.Length];
            leadIn.CopyTo(preface, 0);
            fence.CopyTo(preface, leadIn.Length);
            return new TextCursor(this, _code[language], CodeJumpProbability, preface, rng, natural, seed);
        }

        return new TextCursor(this, _prose, ProseJumpProbability, [], rng, natural, seed);
    }

    /// <summary>
    /// Plausible, deterministic log-probabilities: the sampled token is the most likely one, the alternatives
    /// share the remaining mass in decreasing order (so the probabilities never sum above 1).
    /// </summary>
    public GeneratedToken MakeToken(int tokenId, string text, ulong seed, int position, int? topLogprobs)
    {
        if (topLogprobs is null)
        {
            return new GeneratedToken(tokenId, text, 0f, null);
        }

        var rng = new SimRandom(SimRandom.Mix(seed ^ (ulong)position * 0x9E3779B97F4A7C15UL));
        var u = rng.NextDouble();
        var logprob = -(u * u);
        if (topLogprobs.Value <= 0)
        {
            return new GeneratedToken(tokenId, text, (float)logprob, null);
        }

        var top = new TopLogprob[topLogprobs.Value];
        top[0] = new TopLogprob(tokenId, text, (float)logprob);
        var rest = Math.Max(1e-6, 1.0 - Math.Exp(logprob));
        var share = 0.55;
        var start = rng.Next(_alternatives.Length);
        var picked = 0;
        for (var i = 1; i < top.Length; i++)
        {
            int alternative;
            do
            {
                alternative = _alternatives[(start + picked++) % _alternatives.Length];
            }
            while (alternative == tokenId);

            var p = rest * share * (0.7 + (0.3 * rng.NextDouble()));
            top[i] = new TopLogprob(alternative, _tokenizer.DecodeToken(alternative), (float)Math.Log(p));
            share *= 0.5;
        }

        return new GeneratedToken(tokenId, text, (float)logprob, top);
    }

    private static int[] DistinctTokens(int[] tokens, int count)
    {
        var seen = new HashSet<int>();
        var result = new List<int>(count);
        foreach (var token in tokens)
        {
            if (seen.Add(token))
            {
                result.Add(token);
                if (result.Count == count)
                {
                    break;
                }
            }
        }

        return [.. result];
    }

    private static List<string> SplitSentences(string prose)
    {
        // A sentence keeps its trailing whitespace, so consecutive segments concatenate into the source.
        var segments = new List<string>();
        var start = 0;
        for (var i = 0; i < prose.Length; i++)
        {
            if ((prose[i] is '.' or '?' or '!') && (i + 1 == prose.Length || char.IsWhiteSpace(prose[i + 1])))
            {
                var end = i + 1;
                while (end < prose.Length && char.IsWhiteSpace(prose[end]))
                {
                    end++;
                }

                segments.Add(prose[start..end]);
                start = end;
                i = end - 1;
            }
        }

        if (start < prose.Length)
        {
            segments.Add(prose[start..]);
        }

        return segments;
    }

    private static List<string> SplitBlocks(string code)
    {
        var segments = new List<string>();
        var start = 0;
        while (start < code.Length)
        {
            var blank = code.IndexOf("\n\n", start, StringComparison.Ordinal);
            var end = blank < 0 ? code.Length : blank + 2;
            segments.Add(code[start..end]);
            start = end;
        }

        return segments;
    }
}

/// <summary>A corpus tokenized segment by segment: token ids and the index where each segment starts.</summary>
internal sealed class SegmentedCorpus
{
    private SegmentedCorpus(int[] tokens, int[] starts)
    {
        Tokens = tokens;
        Starts = starts;
    }

    public int[] Tokens { get; }

    /// <summary>Start of segment i; segment i ends where i + 1 starts (the last one at the end).</summary>
    public int[] Starts { get; }

    public static SegmentedCorpus Create(ISimTokenizer tokenizer, List<string> segments)
    {
        var tokens = new List<int>();
        var starts = new List<int>(segments.Count);
        foreach (var segment in segments)
        {
            var ids = tokenizer.Encode(segment);
            if (ids.Length == 0)
            {
                continue;
            }

            starts.Add(tokens.Count);
            tokens.AddRange(ids);
        }

        return new SegmentedCorpus([.. tokens], [.. starts]);
    }

    public int End(int segment) => segment + 1 < Starts.Length ? Starts[segment + 1] : Tokens.Length;
}

/// <summary>
/// One request's walk over the corpus. Not thread-safe: the engine's scheduler loop is its only user.
/// </summary>
internal sealed class TextCursor
{
    private readonly TextGenerator _generator;
    private readonly SegmentedCorpus _corpus;
    private readonly double _jumpProbability;
    private readonly int[] _preface;
    private SimRandom _rng;
    private int _prefaceIndex;
    private int _segment;
    private int _position;
    private int _segmentEnd;

    public TextCursor(TextGenerator generator, SegmentedCorpus corpus, double jumpProbability, int[] preface, SimRandom rng, int naturalLength, ulong seed)
    {
        _generator = generator;
        _corpus = corpus;
        _jumpProbability = jumpProbability;
        _preface = preface;
        _rng = rng;
        NaturalLength = naturalLength;
        Seed = seed;
        JumpTo(_rng.Next(corpus.Starts.Length));
    }

    /// <summary>Tokens the response has when it ends by itself, the EOS token included.</summary>
    public int NaturalLength { get; }

    public ulong Seed { get; }

    public TextGenerator Generator => _generator;

    /// <summary>The next token of the walk (never EOS: the engine decides when the response ends).</summary>
    public int NextToken()
    {
        if (_prefaceIndex < _preface.Length)
        {
            return _preface[_prefaceIndex++];
        }

        if (_position >= _segmentEnd)
        {
            var next = _rng.NextDouble() < _jumpProbability ? _rng.Next(_corpus.Starts.Length) : (_segment + 1) % _corpus.Starts.Length;
            JumpTo(next);
        }

        return _corpus.Tokens[_position++];
    }

    private void JumpTo(int segment)
    {
        _segment = segment;
        _position = _corpus.Starts[segment];
        _segmentEnd = _corpus.End(segment);
    }
}
