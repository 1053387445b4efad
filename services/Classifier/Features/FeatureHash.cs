using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Text;

namespace Platform.Classifier.Features;

/// <summary>
/// Feature hashes, computed the same way from a feature's name ("w:function", "b:write a") when the model is loaded
/// and from the prompt on the hot path, so no string is built per token. A word (or CJK n-gram) is hashed over the
/// UTF-8 bytes of its lowercase form, eight bytes a step (an ASCII word of up to 8 letters is one load and one
/// multiply, not a multiply per character); a bigram mixes the hashes of its two words, so each word is hashed once.
/// Collisions between the model's features are refused when the model is loaded.
/// </summary>
internal static class FeatureHash
{
    /// <summary>Where every word's hash starts.</summary>
    public const ulong WordSeed = 0x08CB8C07B56D8384UL;

    // Names that are neither words nor bigrams get a seed of their own (none is looked up by hash today).
    private const ulong NameSeed = 0xCBF29CE484222325UL;

    private const ulong Multiplier = 0xFF51AFD7ED558CCDUL;
    private const ulong LengthMultiplier = 0x9E3779B97F4A7C15UL;

    /// <summary>Longest word, in UTF-8 bytes, that <see cref="Word(ReadOnlySpan{char})"/> encodes on the stack (24 characters of 3 bytes).</summary>
    private const int MaxWordBytes = 96;

    /// <summary>Zero marks an empty slot of the model's table, so no feature hashes to it.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static ulong Finish(ulong hash) => hash == 0 ? 1 : hash;

    public static ulong Of(string name)
    {
        if (name.StartsWith("b:", StringComparison.Ordinal) && name.IndexOf(' ', StringComparison.Ordinal) is var space and > 2)
        {
            return Bigram(Word(name.AsSpan(2, space - 2)), Word(name.AsSpan(space + 1)));
        }

        if (name.StartsWith("w:", StringComparison.Ordinal))
        {
            return Word(name.AsSpan(2));
        }

        return Finish(Bytes(NameSeed, Encoding.UTF8.GetBytes(name)));
    }

    /// <summary>"w:" + a word (or a CJK character n-gram), already lowercase.</summary>
    public static ulong Word(ReadOnlySpan<char> word)
    {
        // Words are letters and digits of the Basic Multilingual Plane (CJK n-grams of one or two characters are the
        // commonest): encoded here, which costs less than a call to the encoder; anything else goes to the encoder.
        Span<byte> utf8 = stackalloc byte[MaxWordBytes];
        if (word.Length <= MaxWordBytes / 3)
        {
            var written = 0;
            foreach (var c in word)
            {
                if (c < 0x80)
                {
                    utf8[written++] = (byte)c;
                }
                else if (c < 0x800)
                {
                    utf8[written++] = (byte)(0xC0 | (c >> 6));
                    utf8[written++] = (byte)(0x80 | (c & 0x3F));
                }
                else if (!char.IsSurrogate(c))
                {
                    utf8[written++] = (byte)(0xE0 | (c >> 12));
                    utf8[written++] = (byte)(0x80 | ((c >> 6) & 0x3F));
                    utf8[written++] = (byte)(0x80 | (c & 0x3F));
                }
                else
                {
                    written = -1;
                    break;
                }
            }

            if (written >= 0)
            {
                return Word(utf8[..written]);
            }
        }

        return Finish(Bytes(WordSeed, Encoding.UTF8.GetBytes(word.ToArray())));
    }

    /// <summary>"w:" + a word given by the UTF-8 bytes of its lowercase form.</summary>
    public static ulong Word(ReadOnlySpan<byte> utf8) => Finish(Bytes(WordSeed, utf8));

    /// <summary>
    /// The hash of an ASCII word of <paramref name="length"/> bytes at <paramref name="word"/>, lowercase, the same as
    /// <see cref="Word(ReadOnlySpan{byte})"/>: reads whole 8-byte blocks, so at least 7 bytes past the word must be readable.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static ulong AsciiWord(ref byte word, int length)
    {
        var hash = WordSeed ^ ((ulong)length * LengthMultiplier);
        var i = 0;
        for (; i + 8 <= length; i += 8)
        {
            hash = Mix(hash, Unsafe.ReadUnaligned<ulong>(ref Unsafe.Add(ref word, i)));
        }

        if (i < length)
        {
            var tail = Unsafe.ReadUnaligned<ulong>(ref Unsafe.Add(ref word, i));
            hash = Mix(hash, tail & TailMask(length - i));
        }

        return Finish(Avalanche(hash));
    }

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

    private static ulong Bytes(ulong seed, ReadOnlySpan<byte> bytes)
    {
        var hash = seed ^ ((ulong)bytes.Length * LengthMultiplier);
        var i = 0;
        for (; i + 8 <= bytes.Length; i += 8)
        {
            hash = Mix(hash, MemoryMarshal.Read<ulong>(bytes[i..]));
        }

        if (i < bytes.Length)
        {
            // The same memory layout as the over-reading load of AsciiWord, masked: the two agree on any byte order.
            var tail = 0UL;
            bytes[i..].CopyTo(MemoryMarshal.AsBytes(new Span<ulong>(ref tail)));
            hash = Mix(hash, tail & TailMask(bytes.Length - i));
        }

        return Avalanche(hash);
    }

    /// <summary>The mask of the first <paramref name="bytes"/> (1 to 7) bytes of a native-order 8-byte load.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static ulong TailMask(int bytes) => BitConverter.IsLittleEndian
        ? ulong.MaxValue >> ((8 - bytes) * 8)
        : ulong.MaxValue << ((8 - bytes) * 8);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static ulong Mix(ulong hash, ulong block)
    {
        hash = (hash ^ block) * Multiplier;
        return hash ^ (hash >> 32);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static ulong Avalanche(ulong hash)
    {
        hash ^= hash >> 33;
        hash *= 0xC4CEB9FE1A85EC53UL;
        return hash ^ (hash >> 33);
    }
}
