using System.Buffers;

namespace Platform.Classifier.Features;

/// <summary>What of a conversation is read: the first system (or developer) message and the last user message, each cut to a bounded prefix.</summary>
internal static class PromptText
{
    /// <summary>At most this many UTF-8 bytes of each of the two messages are read.</summary>
    public const int MaxPrefixBytes = 4096;

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
    /// The longest prefix of <paramref name="text"/> whose UTF-8 encoding fits in <paramref name="maxBytes"/>, never
    /// splitting a surrogate pair.
    /// </summary>
    public static ReadOnlySpan<char> Prefix(ReadOnlySpan<char> text, int maxBytes = MaxPrefixBytes)
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
