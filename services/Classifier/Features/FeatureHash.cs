namespace Platform.Classifier.Features;

/// <summary>
/// FNV-1a (64 bits) over UTF-16 code units. A feature's hash is the hash of its name ("w:function",
/// "b:write a"), and the hot path computes it from the spans the name is made of, so no string is built per token.
/// </summary>
internal static class FeatureHash
{
    public const ulong Seed = 14695981039346656037UL;
    private const ulong Prime = 1099511628211UL;

    public static ulong Append(ulong hash, char c) => (hash ^ c) * Prime;

    public static ulong Append(ulong hash, ReadOnlySpan<char> text)
    {
        foreach (var c in text)
        {
            hash = (hash ^ c) * Prime;
        }

        return hash;
    }

    /// <summary>Zero marks an empty slot of the model's table, so no feature hashes to it.</summary>
    public static ulong Finish(ulong hash) => hash == 0 ? 1 : hash;

    public static ulong Of(string name) => Finish(Append(Seed, name));

    /// <summary>"w:" + a word (or a CJK character n-gram).</summary>
    public static ulong Word(ReadOnlySpan<char> word) => Finish(Append(Append(Append(Seed, 'w'), ':'), word));

    /// <summary>"b:" + first + " " + second.</summary>
    public static ulong Bigram(ReadOnlySpan<char> first, ReadOnlySpan<char> second) =>
        Finish(Append(Append(Append(Append(Append(Seed, 'b'), ':'), first), ' '), second));
}
