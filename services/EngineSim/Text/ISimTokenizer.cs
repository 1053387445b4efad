namespace Platform.EngineSim.Text;

/// <summary>
/// A real BPE tokenizer (cl100k_base from Microsoft.ML.Tokenizers, shipped in a package: nothing is
/// downloaded). Token counts in usage, KV-cache blocks and metrics all come from it.
/// </summary>
internal interface ISimTokenizer
{
    int[] Encode(string text);

    int CountTokens(string text);

    string Decode(ReadOnlySpan<int> tokenIds);

    /// <summary>The text of one token (may be a partial UTF-8 sequence rendered with U+FFFD, as vLLM does).</summary>
    string DecodeToken(int tokenId);
}
