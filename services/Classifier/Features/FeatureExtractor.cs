using System.Buffers;
using System.Runtime.CompilerServices;

namespace Platform.Classifier.Features;

/// <summary>
/// Turns the system text and the user text into features, in one pass over each, without allocating.
/// <para>
/// Lines are first told apart: a line inside a code fence, or one that reads as code (ends with ';' '{' '}', starts
/// with a keyword of a language, is dense in code symbols, is a stack-trace frame, a YAML or JSON member, a markup
/// tag...), counts as pasted code and gives no words. Words come only from prose lines, so a long paste cannot drown
/// the request written around it: what is asked decides, what is pasted only says that code is present.
/// </para>
/// <para>
/// Prose gives lowercase words ("w:"), pairs of consecutive words within a clause ("b:"), Chinese and Japanese
/// Han/Hiragana and Korean Hangul as character 1- and 2-grams, Katakana words whole. Each word is also looked up in the
/// <see cref="Lexicon"/>; the concepts found, and every pair of them, become features at the end, with the layout
/// features (<see cref="NamedFeatures"/>).
/// </para>
/// </summary>
internal static class FeatureExtractor
{
    /// <summary>Longer words (hashes, base64, URLs without separators) are skipped.</summary>
    public const int MaxWordLength = 24;

    // Line starts that mean code on their own (case-sensitive: prose starts sentences with a capital letter).
    private static readonly string[][] CodeStarts = ByFirstChar(
    [
        "#include", "#!/", "#define", "#import", "#pragma", "def ", "async def ", "<?php", "</", "<!DOCTYPE", "<!--", "std::",
        "console.", "print(", "printf(", "println!", "fmt.", "System.", "import ", "using System", "elif ", "try:",
        "else:", "except:", "finally:", "@Override", "@app.", "//", "/*", "*/", ">>> ", "SELECT ", "INSERT INTO",
        "UPDATE ", "DELETE FROM", "CREATE TABLE", "CREATE INDEX", "CREATE OR", "ALTER TABLE", "DROP TABLE", "WITH ",
        "FROM ", "WHERE ", "GROUP BY", "ORDER BY", "LEFT JOIN", "INNER JOIN", "JOIN ", "RUN ", "COPY ", "CMD ",
        "ENTRYPOINT", "WORKDIR ", "EXPOSE ", "ENV ", "ARG ", "apiVersion:", "$ ", "diff --git", "@@ ", "+++ ", "--- a/",
        "pub fn ", "#[", "func (", "package main", "module.exports", "require(", "self.", "this.",
    ]);

    // Line starts that mean code when the line also holds a code symbol or ends like code.
    private static readonly string[][] WeakCodeStarts = ByFirstChar(
    [
        "return ", "if ", "for ", "while ", "class ", "from ", "let ", "const ", "var ", "val ", "func ", "fn ",
        "impl ", "public ", "private ", "protected ", "static ", "namespace ", "package ", "module ", "export ",
        "await ", "lambda ", "except ", "catch ", "switch ", "case ", "struct ", "enum ", "interface ", "type ",
        "sudo ", "git ", "npm ", "pip ", "curl ", "docker ", "kubectl ", "echo ", "ls ", "cd ", "mkdir ", "chmod ",
        "cargo ", "dotnet ", "yarn ", "cmake ", "gcc ", "apt ", "brew ",
    ]);

    private enum LineKind
    {
        Prose,
        Code,
        StackTrace,
    }

    /// <summary>What the layout of one text showed.</summary>
    private struct TextStats
    {
        public bool Fenced;
        public bool InlineCode;
        public bool StackTrace;
        public bool Question;
        public bool Quoted;
        public int CodeLines;
        public int ProseLines;
        public int ProseWords;
    }

    /// <summary>Extracts the features of a prompt from the windows (<see cref="PromptText.Window"/>) of its system and user messages.</summary>
    public static void Extract<TSink>(MessageWindow system, MessageWindow user, ref TSink sink) where TSink : struct, IFeatureSink
    {
        var systemStats = default(TextStats);
        var userStats = default(TextStats);
        if (!system.Head.IsEmpty)
        {
            var systemConcepts = (uint)Scan(system, ref sink, ref systemStats);
            sink.Named(NamedFeatures.SystemMessage);
            for (; systemConcepts != 0; systemConcepts &= systemConcepts - 1)
            {
                sink.Named(NamedFeatures.SystemConceptFeature(System.Numerics.BitOperations.TrailingZeroCount(systemConcepts)));
            }
        }

        var concepts = Scan(user, ref sink, ref userStats);

        var codeLines = systemStats.CodeLines + userStats.CodeLines;
        if (systemStats.Fenced || userStats.Fenced)
        {
            sink.Named(NamedFeatures.FencedCode);
        }

        if (systemStats.InlineCode || userStats.InlineCode)
        {
            sink.Named(NamedFeatures.InlineCode);
        }

        if (codeLines > 0)
        {
            concepts |= Concept.CodePresent;
            sink.Named(codeLines <= 3 ? NamedFeatures.CodeLinesFew : codeLines <= 15 ? NamedFeatures.CodeLinesSome : NamedFeatures.CodeLinesMany);
        }

        if (userStats.CodeLines > userStats.ProseLines)
        {
            sink.Named(NamedFeatures.MostlyCode);
        }

        if (systemStats.StackTrace || userStats.StackTrace)
        {
            sink.Named(NamedFeatures.StackTrace);
        }

        if (userStats.Quoted)
        {
            sink.Named(NamedFeatures.QuotedText);
        }

        var words = userStats.ProseWords;
        sink.Named(words == 0 ? NamedFeatures.NoProse
            : words <= 8 ? NamedFeatures.ProseShort
            : words <= 30 ? NamedFeatures.ProseMedium
            : words <= 100 ? NamedFeatures.ProseLong
            : NamedFeatures.ProseVeryLong);
        if (userStats.Question)
        {
            sink.Named(NamedFeatures.Question);
        }

        NamedFeatures.ForConcepts(concepts, ref sink);
        sink.Named(NamedFeatures.Bias);
    }

    /// <summary>The head and then the tail of a message, as one text with the middle left out.</summary>
    private static Concept Scan<TSink>(MessageWindow window, ref TSink sink, ref TextStats stats) where TSink : struct, IFeatureSink
    {
        var concepts = Scan(window.Head, false, ref sink, ref stats);
        if (!window.Tail.IsEmpty)
        {
            concepts |= Scan(window.Tail, window.TailStartsInFence, ref sink, ref stats);
        }

        return concepts;
    }

    private static Concept Scan<TSink>(ReadOnlySpan<char> text, bool inFence, ref TSink sink, ref TextStats stats) where TSink : struct, IFeatureSink
    {
        var concepts = Concept.None;
        var previousWasCode = false;
        var rest = text;
        while (true)
        {
            var newline = rest.IndexOf('\n');
            var line = newline < 0 ? rest : rest[..newline];
            var trimmed = line.Trim();
            if (trimmed.StartsWith("```", StringComparison.Ordinal) || trimmed.StartsWith("~~~", StringComparison.Ordinal))
            {
                stats.Fenced = true;
                inFence = !inFence;
                previousWasCode = inFence;
            }
            else if (inFence)
            {
                stats.CodeLines++;
            }
            else if (!trimmed.IsEmpty)
            {
                var kind = Classify(line, trimmed, previousWasCode);
                previousWasCode = kind != LineKind.Prose;
                if (previousWasCode)
                {
                    stats.CodeLines++;
                    stats.StackTrace |= kind == LineKind.StackTrace;

                    // "Explain what this regex matches: ^(?=.*\d).{8,}$": the request before the colon is prose.
                    var lead = ProseLead(trimmed);
                    if (lead > 0)
                    {
                        concepts |= Prose(trimmed[..lead], ref sink, ref stats);
                    }
                }
                else
                {
                    concepts |= Prose(trimmed, ref sink, ref stats);
                }
            }

            if (newline < 0)
            {
                return concepts;
            }

            rest = rest[(newline + 1)..];
        }
    }

    private static Concept Prose<TSink>(ReadOnlySpan<char> line, ref TSink sink, ref TextStats stats) where TSink : struct, IFeatureSink
    {
        stats.ProseLines++;
        stats.Question |= line.IndexOfAny('?', '？') >= 0;
        return Tokenize(line, ref sink, ref stats);
    }

    /// <summary>
    /// Length of a prose lead-in of a code line ("Fix this: x = [1, 2"): up to the first ": " or "? ", when what precedes
    /// holds at least three words and reads as prose; 0 when there is none.
    /// </summary>
    private static int ProseLead(ReadOnlySpan<char> t)
    {
        for (var i = 1; i < t.Length - 1; i++)
        {
            if (t[i] is ':' or '?' or '：' or '？' && (t[i + 1] == ' ' || t[i] > 127))
            {
                var lead = t[..(i + 1)];
                return lead.Count(' ') >= 2 && Classify(lead, lead, previousWasCode: false) == LineKind.Prose ? i + 1 : 0;
            }
        }

        return 0;
    }

    private static LineKind Classify(ReadOnlySpan<char> line, ReadOnlySpan<char> t, bool previousWasCode)
    {
        var indented = line[0] == '\t' || line.StartsWith("    ", StringComparison.Ordinal);
        if (indented && previousWasCode)
        {
            return LineKind.Code;
        }

        if (IsStackTraceLine(t))
        {
            return LineKind.StackTrace;
        }

        var last = t[^1];
        if (last is ';' or '{' or '}' || StartsWithAny(t, CodeStarts))
        {
            return LineKind.Code;
        }

        // Vectorised searches: prose lines hold few symbols, so each count is one or two searches, not a loop per character.
        var symbols = CountAny(t, CodeSymbols);
        var spaces = t.Count(' ') + CountAny(t, OtherSpaces);
        var nonSpace = t.Length - spaces;

        if (symbols >= 2 && symbols * 100 >= nonSpace * 15)
        {
            return LineKind.Code;
        }

        if ((symbols > 0 || last is ':' or ')' or ',') && StartsWithAny(t, WeakCodeStarts))
        {
            return LineKind.Code;
        }

        if ((t[0] == '<' && last == '>') || (t[0] == '"' && t.Contains("\":", StringComparison.Ordinal)))
        {
            return LineKind.Code;
        }

        if (t.StartsWith("from ", StringComparison.Ordinal) && t.Contains(" import ", StringComparison.Ordinal))
        {
            return LineKind.Code;
        }

        return IsKeyValueLine(line, t, previousWasCode) ? LineKind.Code : LineKind.Prose;
    }

    // The symbols whose density makes a line code; white space (' ' and these) is left out of a line's character count.
    private static readonly SearchValues<char> CodeSymbols = SearchValues.Create("{}[]()<>=;&|$\\");
    private static readonly SearchValues<char> OtherSpaces = SearchValues.Create("\t\r\v\f");

    private static int CountAny(ReadOnlySpan<char> t, SearchValues<char> values)
    {
        var count = 0;
        for (var i = t.IndexOfAny(values); i >= 0; i = t.IndexOfAny(values))
        {
            count++;
            t = t[(i + 1)..];
        }

        return count;
    }

    /// <summary>A YAML/INI-like "key: value" line: indented or after code, else a lowercase key with a one-word value.</summary>
    private static bool IsKeyValueLine(ReadOnlySpan<char> line, ReadOnlySpan<char> t, bool previousWasCode)
    {
        var s = t.StartsWith("- ", StringComparison.Ordinal) ? t[2..] : t;
        if (s.IsEmpty || !(char.IsAsciiLetter(s[0]) || s[0] == '_'))
        {
            return false;
        }

        var k = 0;
        while (k < s.Length && (char.IsAsciiLetterOrDigit(s[k]) || s[k] is '_' or '-' or '.'))
        {
            k++;
        }

        if (k >= s.Length || s[k] != ':' || (k + 1 < s.Length && s[k + 1] != ' '))
        {
            return false;
        }

        if (previousWasCode || line.StartsWith("  ", StringComparison.Ordinal))
        {
            return true;
        }

        var value = s[(k + 1)..].Trim();
        return char.IsAsciiLetterLower(s[0]) && !value.IsEmpty && value.IndexOf(' ') < 0;
    }

    private static bool IsStackTraceLine(ReadOnlySpan<char> t)
    {
        if (t.StartsWith("at ", StringComparison.Ordinal))
        {
            return t.IndexOf('(') > 0 && t.IndexOf(':') > 0;
        }

        if (t.StartsWith("File \"", StringComparison.Ordinal))
        {
            return t.Contains(", line ", StringComparison.Ordinal);
        }

        // The first character rules out most lines before any comparison.
        if (t[0] is 'T' or 'E' or 'p' or 'g' or 'e' or 'S' or 'U'
            && (t.StartsWith("Traceback (", StringComparison.Ordinal)
            || t.StartsWith("Exception in thread", StringComparison.Ordinal)
            || t.StartsWith("panic: ", StringComparison.Ordinal)
            || t.StartsWith("goroutine ", StringComparison.Ordinal)
            || t.StartsWith("error[E", StringComparison.Ordinal)
            || t.StartsWith("Segmentation fault", StringComparison.Ordinal)
            || t.StartsWith("Unhandled exception", StringComparison.Ordinal)))
        {
            return true;
        }

        // "TypeError: ...", "java.lang.NullPointerException", "System.InvalidOperationException: ...".
        var end = t.IndexOfAny(':', ' ');
        var head = end < 0 ? t : t[..end];
        return head.Length > 5 && head.IndexOf(' ') < 0
            && (head.EndsWith("Error", StringComparison.Ordinal) || head.EndsWith("Exception", StringComparison.Ordinal));
    }

    private static bool StartsWithAny(ReadOnlySpan<char> t, string[][] startsByFirstChar)
    {
        if (t[0] >= startsByFirstChar.Length)
        {
            return false;
        }

        foreach (var start in startsByFirstChar[t[0]])
        {
            if (t.StartsWith(start, StringComparison.Ordinal))
            {
                return true;
            }
        }

        return false;
    }

    /// <summary>Line starts grouped by their first (ASCII) character, so a line is compared with a handful, not all.</summary>
    private static string[][] ByFirstChar(string[] starts)
    {
        var table = new string[128][];
        for (var c = 0; c < table.Length; c++)
        {
            table[c] = starts.Where(s => s[0] == c).ToArray();
        }

        return table;
    }

    private static Concept Tokenize<TSink>(ReadOnlySpan<char> t, ref TSink sink, ref TextStats stats) where TSink : struct, IFeatureSink
    {
        Span<char> bufferA = stackalloc char[MaxWordLength];
        Span<char> bufferB = stackalloc char[MaxWordLength];
        var current = bufferA;
        var previous = bufferB;
        var previousLength = 0;
        var previousHash = 0UL;
        var concepts = Concept.None;
        ReadOnlySpan<byte> asciiKinds = AsciiKinds;
        var i = 0;
        while (i < t.Length)
        {
            var c = t[i];
            var kind = c < 128 ? (CharKind)asciiKinds[c] : KindOf(c);
            switch (kind)
            {
                case CharKind.Separator:
                    i++;
                    continue;

                case CharKind.ClauseEnd:
                    previousLength = 0;
                    i++;
                    continue;

                case CharKind.Backtick:
                    i = SkipInlineCode(t, i, ref stats);
                    previousLength = 0;
                    continue;

                case CharKind.Quote:
                    i = SkipQuotedPassage(t, i, ref stats);

                    // A lone apostrophe joins ("qu'est" gives "qu est"); a double quote ends a clause.
                    if (c != '\'')
                    {
                        previousLength = 0;
                    }

                    continue;

                case CharKind.CharGram:
                case CharKind.Katakana:
                    i = CjkWord(t, i, kind, ref sink, ref stats, ref concepts);
                    previousLength = 0;
                    continue;
            }

            // A word: letters, digits, '_'; lowercased into the current buffer and hashed as it is read.
            var wordStart = i;
            var read = ReadWord(t, i, current);
            i = read.End;
            var length = read.Length;
            var digits = read.Digits;
            var hash = read.Hash;

            // "c#", "f#", "c++".
            if (length == 1 && i < t.Length && !digits)
            {
                if (t[i] == '#')
                {
                    current[length++] = '#';
                    hash = FeatureHash.Append(hash, '#');
                    i++;
                }
                else if (t[i] == '+' && i + 1 < t.Length && t[i + 1] == '+')
                {
                    current[length++] = '+';
                    current[length++] = '+';
                    hash = FeatureHash.Append(FeatureHash.Append(hash, '+'), '+');
                    i += 2;
                }
            }

            stats.ProseWords++;
            if (digits || length > MaxWordLength || i == wordStart)
            {
                previousLength = 0;
                i = Math.Max(i, wordStart + 1);
                continue;
            }

            var token = current[..length];
            hash = FeatureHash.Finish(hash);
            concepts |= sink.Word(hash, token);
            if (previousLength > 0)
            {
                var first = previous[..previousLength];
                concepts |= sink.Bigram(FeatureHash.Bigram(previousHash, hash), first, token);
            }

            var swap = previous;
            previous = current;
            current = swap;
            previousLength = length;
            previousHash = hash;
        }

        return concepts;
    }

    // The rarer cases of the tokenizer are methods of their own, which keeps the word loop's state in registers.

    /// <summary>Inline code: counted as code present, its words left out. Returns the index after the closing backtick.</summary>
    [MethodImpl(MethodImplOptions.NoInlining)]
    private static int SkipInlineCode(ReadOnlySpan<char> t, int i, ref TextStats stats)
    {
        stats.InlineCode = true;
        var close = t[(i + 1)..].IndexOf('`');
        return close < 0 ? t.Length : i + close + 2;
    }

    /// <summary>
    /// A quoted passage of four words or more is what the request works on (a sentence to translate, a text to extract
    /// from), not the request: its words are counted, not used. Returns the index after the passage, or after the quote.
    /// </summary>
    [MethodImpl(MethodImplOptions.NoInlining)]
    private static int SkipQuotedPassage(ReadOnlySpan<char> t, int i, ref TextStats stats)
    {
        var end = QuotedPassageEnd(t, i);
        if (end <= 0)
        {
            return i + 1;
        }

        stats.Quoted = true;
        stats.ProseWords += t[(i + 1)..end].Count(' ') + 1;
        return end + 1;
    }

    /// <summary>A run of Han/Hiragana/Hangul (character 1- and 2-grams) or a Katakana word (whole). Returns the index after it.</summary>
    [MethodImpl(MethodImplOptions.NoInlining)]
    private static int CjkWord<TSink>(ReadOnlySpan<char> t, int i, CharKind kind, ref TSink sink, ref TextStats stats, ref Concept concepts) where TSink : struct, IFeatureSink
    {
        var start = i;
        while (i < t.Length && t[i] >= 128 && KindOf(t[i]) == kind)
        {
            i++;
        }

        if (kind == CharKind.CharGram)
        {
            concepts |= CjkRun(t[start..i], ref sink);
            stats.ProseWords += (i - start + 1) / 2;
            return i;
        }

        var word = t[start..i];
        stats.ProseWords++;
        if (word.Length <= MaxWordLength)
        {
            concepts |= sink.Word(FeatureHash.Word(word), word);
        }

        return i;
    }

    /// <summary>A word read by <see cref="ReadWord"/>: where it ends, its length, whether it is all digits, its hash so far (of its first <see cref="MaxWordLength"/> characters).</summary>
    private readonly record struct WordRead(int End, int Length, bool Digits, ulong Hash);

    /// <summary>
    /// Reads the word starting at <paramref name="i"/>, lowercasing its first <see cref="MaxWordLength"/> characters
    /// into <paramref name="buffer"/> and hashing them as "w:" + word. A small method with no call in its ASCII loop,
    /// so its state stays in registers.
    /// </summary>
    private static WordRead ReadWord(ReadOnlySpan<char> t, int i, Span<char> buffer)
    {
        ReadOnlySpan<byte> asciiLower = AsciiWordLower;
        var length = 0;
        var digits = true;
        var hash = FeatureHash.WordSeed;
        while ((uint)i < (uint)t.Length)
        {
            int ch = t[i];
            if (ch >= 128)
            {
                return ReadWordRest(t, i, buffer, length, digits, hash);
            }

            ch = asciiLower[ch];
            if (ch == 0)
            {
                break;
            }

            digits &= ch <= '9';
            if ((uint)length < MaxWordLength)
            {
                buffer[length] = (char)ch;
                hash = FeatureHash.Append(hash, (char)ch);
            }

            length++;
            i++;
        }

        return new WordRead(i, length, digits, hash);
    }

    /// <summary>The rest of a word from its first non-ASCII character on.</summary>
    [MethodImpl(MethodImplOptions.NoInlining)]
    private static WordRead ReadWordRest(ReadOnlySpan<char> t, int i, Span<char> buffer, int length, bool digits, ulong hash)
    {
        while (i < t.Length)
        {
            var ch = t[i];
            if (ch < 128)
            {
                ch = (char)AsciiWordLower[ch];
                if (ch == 0)
                {
                    break;
                }

                digits &= ch <= '9';
            }
            else
            {
                if (KindOf(ch) != CharKind.Word)
                {
                    break;
                }

                digits = false;
                ch = char.ToLowerInvariant(ch);
            }

            if (length < MaxWordLength)
            {
                buffer[length] = ch;
                hash = FeatureHash.Append(hash, ch);
            }

            length++;
            i++;
        }

        return new WordRead(i, length, digits, hash);
    }

    /// <summary>What a character does in prose. Clause ends break the chain of bigrams; spaces, hyphens, apostrophes and slashes do not.</summary>
    private enum CharKind : byte
    {
        Separator,
        Word,
        ClauseEnd,
        Backtick,
        Quote,
        CharGram,
        Katakana,
    }

    private static readonly byte[] AsciiKinds = BuildAsciiKinds();

    // Per ASCII character: the character lowercased when it belongs to a word (letters, digits, '_'), else 0.
    private static readonly byte[] AsciiWordLower = BuildAsciiWordLower();

    private static byte[] BuildAsciiWordLower()
    {
        var lower = new byte[128];
        for (var c = 0; c < 128; c++)
        {
            lower[c] = (byte)(char.IsAsciiLetterOrDigit((char)c) || c == '_' ? char.ToLowerInvariant((char)c) : 0);
        }

        return lower;
    }

    private static byte[] BuildAsciiKinds()
    {
        var kinds = new byte[128];
        for (var c = 0; c < 128; c++)
        {
            kinds[c] = (byte)(char.IsAsciiLetterOrDigit((char)c) || c == '_' ? CharKind.Word
                : c is '.' or ',' or '!' or '?' or ';' or ':' or '(' or ')' or '[' or ']' ? CharKind.ClauseEnd
                : c == '`' ? CharKind.Backtick
                : c is '"' or '\'' ? CharKind.Quote
                : CharKind.Separator);
        }

        return kinds;
    }

    private static CharKind KindOf(char c) => c switch
    {
        (>= '\u4E00' and <= '\u9FFF') or (>= '\u3400' and <= '\u4DBF') or (>= '\uF900' and <= '\uFAFF') or (>= '\u3041' and <= '\u309F') or (>= '\uAC00' and <= '\uD7A3') => CharKind.CharGram,
        (>= '\u30A0' and <= '\u30FF') or (>= '\uFF66' and <= '\uFF9F') => CharKind.Katakana,
        '。' or '，' or '？' or '！' or '、' or '：' => CharKind.ClauseEnd,
        '“' or '„' or '«' or '「' or '『' => CharKind.Quote,
        _ => char.IsLetterOrDigit(c) ? CharKind.Word : CharKind.Separator,
    };

    /// <summary>Index of the closing quote of a quoted passage opening at <paramref name="i"/>, or 0.</summary>
    private static int QuotedPassageEnd(ReadOnlySpan<char> t, int i)
    {
        var close = t[i] switch
        {
            '"' => '"',
            '“' => '”',
            '„' => '“',
            '«' => '»',
            '「' => '」',
            '『' => '』',
            '\'' when i == 0 || t[i - 1] is ' ' or ':' or '(' => '\'',
            _ => '\0',
        };
        if (close == '\0')
        {
            return 0;
        }

        var length = t[(i + 1)..].IndexOf(close);
        if (length < 0)
        {
            return 0;
        }

        var passage = t.Slice(i + 1, length);
        var isPassage = close is '」' or '』' ? passage.Length >= 8 : passage.Count(' ') >= 3;
        return isPassage ? i + 1 + length : 0;
    }

    private static Concept CjkRun<TSink>(ReadOnlySpan<char> run, ref TSink sink) where TSink : struct, IFeatureSink
    {
        var concepts = Concept.None;
        for (var k = 0; k < run.Length; k++)
        {
            var one = run.Slice(k, 1);
            concepts |= sink.Word(FeatureHash.Word(one), one);
            if (k + 1 < run.Length)
            {
                var two = run.Slice(k, 2);
                concepts |= sink.Word(FeatureHash.Word(two), two);
            }
        }

        return concepts;
    }


}
