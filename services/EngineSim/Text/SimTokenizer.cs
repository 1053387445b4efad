using Microsoft.ML.Tokenizers;

namespace Platform.EngineSim.Text;

/// <summary>
/// cl100k_base through Microsoft.ML.Tokenizers (the vocabulary ships in the
/// Microsoft.ML.Tokenizers.Data.Cl100kBase package). The tokenizer is loaded once per process and shared;
/// the text of every single token is decoded once and cached, because the engine streams token by token.
/// Thread-safe.
/// </summary>
internal sealed class SimTokenizer : ISimTokenizer
{
    /// <summary>&lt;|endoftext|&gt; in cl100k_base: the simulated EOS token.</summary>
    public const int EndOfTextTokenId = 100257;

    private static readonly Lazy<TiktokenTokenizer> SharedTokenizer =
        new(() => TiktokenTokenizer.CreateForEncoding("cl100k_base"), LazyThreadSafetyMode.ExecutionAndPublication);

    // Ids run to 100,276 (special tokens included); a slot is filled on first use. Racing writers store
    // equal strings, so a plain array read/write is enough.
    private static readonly string?[] TokenTexts = new string?[100_352];

    private readonly TiktokenTokenizer _tokenizer = SharedTokenizer.Value;

    public int[] Encode(string text)
    {
        var ids = _tokenizer.EncodeToIds(text);
        var result = new int[ids.Count];
        for (var i = 0; i < result.Length; i++)
        {
            result[i] = ids[i];
        }

        return result;
    }

    public int CountTokens(string text) => _tokenizer.CountTokens(text);

    public string Decode(ReadOnlySpan<int> tokenIds) => _tokenizer.Decode(tokenIds.ToArray());

    public string DecodeToken(int tokenId)
    {
        if ((uint)tokenId >= (uint)TokenTexts.Length)
        {
            return _tokenizer.Decode([tokenId]);
        }

        var text = Volatile.Read(ref TokenTexts[tokenId]);
        if (text is null)
        {
            text = _tokenizer.Decode([tokenId]);
            Volatile.Write(ref TokenTexts[tokenId], text);
        }

        return text;
    }
}
