using System.Buffers;

namespace Platform.Classifier.Features;

/// <summary>
/// The part of one message the classifier reads: its <see cref="Head"/> and, when the message is longer than the budget,
/// its <see cref="Tail"/> (starting at a line, or else a word, boundary). <see cref="TailStartsInFence"/> says whether
/// the tail begins inside a fenced code block opened before it.
/// </summary>
internal readonly ref struct MessageWindow(ReadOnlySpan<char> head, ReadOnlySpan<char> tail, bool tailStartsInFence)
{
    public ReadOnlySpan<char> Head { get; } = head;

    public ReadOnlySpan<char> Tail { get; } = tail;

    public bool TailStartsInFence { get; } = tailStartsInFence;

    /// <summary>The whole of a short message.</summary>
    public static implicit operator MessageWindow(ReadOnlySpan<char> whole) => new(whole, default, false);

    /// <summary>The whole of a short message.</summary>
    public static implicit operator MessageWindow(string whole) => new(whole, default, false);
}

/// <summary>
/// What of a conversation is read: the first system (or developer) message and the last user message, each cut to a
/// bounded window: its first <see cref="HeadBytes"/> and its last <see cref="TailBytes"/> UTF-8 bytes. A long message
/// often puts its request after the material (a pasted file, then "explain this"), so the tail is read as well as the
/// head, and the cost of a call stays bounded however long the message is.
/// </summary>
internal static class PromptText
{
    /// <summary>At most this many UTF-8 bytes of the start of each of the two messages are read.</summary>
    public const int HeadBytes = 1024;

    /// <summary>At most this many UTF-8 bytes of the end of each of the two messages are read (when longer than <see cref="HeadBytes"/> + this).</summary>
    public const int TailBytes = 512;

    /// <summary>Fences before the tail are counted (to know whether the tail starts inside a code block) up to this many characters.</summary>
    public const int MaxFenceSearchChars = 65_536;

    /// <summary>The largest number of UTF-8 bytes read of one message.</summary>
    public const int MaxWindowBytes = HeadBytes + TailBytes;

    private static readonly SearchValues<char> Ascii = SearchValues.Create(Enumerable.Range(0, 128).Select(c => (char)c).ToArray());

    /// <summary>The roles of OpenAI's chat format; any other is refused.</summary>
    public static bool IsKnownRole(string role) => role is "system" or "developer" or "user" or "assistant" or "tool";

    /// <summary>Picks the system and user text of a conversation (either may be empty).</summary>
    public static (string System, string User) Select<TMessage>(IReadOnlyList<TMessage> messages, Func<TMessage, string> role, Func<TMessage, string> content)
    {
        string? system = null;
        string? user = null;
        for (var i = 0; i < messages.Count; i++)
        {
            var r = role(messages[i]);
            if (system is null && r is "system" or "developer")
            {
                system = content(messages[i]);
            }
            else if (r == "user")
            {
                user = content(messages[i]);
            }
        }

        return (system ?? string.Empty, user ?? string.Empty);
    }

    /// <summary>
    /// The part of <paramref name="text"/> that is read: all of it when its UTF-8 encoding fits in
    /// <paramref name="headBytes"/> + <paramref name="tailBytes"/>; otherwise the longest prefix within
    /// <paramref name="headBytes"/> and a suffix within <paramref name="tailBytes"/> that starts after a line break (or,
    /// on one long line, after a space), never splitting a surrogate pair.
    /// </summary>
    public static MessageWindow Window(ReadOnlySpan<char> text, int headBytes = HeadBytes, int tailBytes = TailBytes)
    {
        if (Prefix(text, headBytes + tailBytes).Length == text.Length)
        {
            return new MessageWindow(text, default, false);
        }

        var head = Prefix(text, headBytes);
        var tail = Suffix(text[head.Length..], tailBytes);
        var newline = tail.IndexOf('\n');
        if (newline >= 0 && newline < tail.Length - 1)
        {
            tail = tail[(newline + 1)..];
        }
        else if (tail.IndexOf(' ') is var space and >= 0)
        {
            tail = tail[(space + 1)..];
        }

        var before = text[..^tail.Length];
        var inFence = before.Length <= MaxFenceSearchChars && (CountFenceLines(before, "```") + CountFenceLines(before, "~~~")) % 2 == 1;
        return new MessageWindow(head, tail, inFence);
    }

    /// <summary>
    /// The longest suffix of <paramref name="text"/> whose UTF-8 encoding fits in <paramref name="maxBytes"/>, never
    /// splitting a surrogate pair.
    /// </summary>
    public static ReadOnlySpan<char> Suffix(ReadOnlySpan<char> text, int maxBytes)
    {
        if (text.Length * 3 <= maxBytes)
        {
            return text;
        }

        var bytes = 0;
        var i = text.Length;
        while (i > 0)
        {
            var c = text[i - 1];
            int size;
            var width = 1;
            if (c < 0x80)
            {
                size = 1;
            }
            else if (c < 0x800)
            {
                size = 2;
            }
            else if (char.IsLowSurrogate(c) && i >= 2 && char.IsHighSurrogate(text[i - 2]))
            {
                size = 4;
                width = 2;
            }
            else
            {
                size = 3;
            }

            if (bytes + size > maxBytes)
            {
                break;
            }

            bytes += size;
            i -= width;
        }

        return text[i..];
    }

    /// <summary>Lines of <paramref name="text"/> that start (after white space) with <paramref name="fence"/>.</summary>
    private static int CountFenceLines(ReadOnlySpan<char> text, string fence)
    {
        var count = 0;
        var offset = 0;
        while (text[offset..].IndexOf(fence, StringComparison.Ordinal) is var found and >= 0)
        {
            var at = offset + found;
            var lineStart = text[..at].LastIndexOf('\n') + 1;
            if (text[lineStart..at].IsWhiteSpace())
            {
                count++;
            }

            offset = at + fence.Length;
        }

        return count;
    }

    /// <summary>
    /// The longest prefix of <paramref name="text"/> whose UTF-8 encoding fits in <paramref name="maxBytes"/>, never
    /// splitting a surrogate pair.
    /// </summary>
    public static ReadOnlySpan<char> Prefix(ReadOnlySpan<char> text, int maxBytes)
    {
        if (text.Length * 3 <= maxBytes)
        {
            return text;
        }

        // Runs of ASCII (one byte a character) are found with a vectorised search; only other characters are sized one by one.
        var bytes = 0;
        var i = 0;
        while (true)
        {
            var run = text[i..].IndexOfAnyExcept(Ascii);
            var ascii = run < 0 ? text.Length - i : run;
            if (bytes + ascii > maxBytes)
            {
                return text[..(i + maxBytes - bytes)];
            }

            bytes += ascii;
            i += ascii;
            for (; i < text.Length && text[i] >= 0x80; i++)
            {
                var c = text[i];
                int size;
                var width = 1;
                if (c < 0x800)
                {
                    size = 2;
                }
                else if (char.IsHighSurrogate(c) && i + 1 < text.Length && char.IsLowSurrogate(text[i + 1]))
                {
                    size = 4;
                    width = 2;
                }
                else
                {
                    size = 3;
                }

                if (bytes + size > maxBytes)
                {
                    return text[..i];
                }

                bytes += size;
                i += width - 1;
            }

            if (i >= text.Length)
            {
                return text;
            }
        }
    }
}
