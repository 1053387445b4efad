using System.Numerics;
using System.Runtime.CompilerServices;

namespace Platform.Classifier.Features;

/// <summary>
/// Feature hashes, computed the same way from a feature's name ("w:function", "b:write a") when the model is loaded
/// and from the spans of the prompt on the hot path, so no string is built per token. A word is FNV-1a (64 bits) over
/// the UTF-16 code units of its name; a bigram mixes the hashes of its two words, so each word is hashed once.
/// </summary>
internal static class FeatureHash
{
    public const ulong Seed = 14695981039346656037UL;
    private const ulong Prime = 1099511628211UL;

    /// <summary>The hash of "w:", where every word's hash starts (a test checks it against <see cref="Seed"/>).</summary>
    public const ulong WordSeed = 0x08CB8C07B56D8384UL;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
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

    public static ulong Of(string name)
    {
        if (name.StartsWith("b:", StringComparison.Ordinal) && name.IndexOf(' ', StringComparison.Ordinal) is var space and > 2)
        {
            return Bigram(Word(name.AsSpan(2, space - 2)), Word(name.AsSpan(space + 1)));
        }

        return Finish(Append(Seed, name));
    }

    /// <summary>"w:" + a word (or a CJK character n-gram).</summary>
    public static ulong Word(ReadOnlySpan<char> word) => Finish(Append(WordSeed, word));

    /// <summary>"b:" + first + " " + second, from the hashes of the two words (order matters).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static ulong Bigram(ulong first, ulong second)
    {
        var h = (first * 0x9E3779B97F4A7C15UL) ^ BitOperations.RotateLeft(second, 29) ^ 0x62UL;
        h ^= h >> 32;
        h *= 0xD6E8FEB86659FD93UL;
        h ^= h >> 32;
        return Finish(h);
    }
}
