using System.Text;
using Platform.Classifier.Features;

namespace Platform.Classifier.Tests.Features;

public sealed class PromptTextTests
{
    [Fact]
    public void Prefix_Ascii_CutAt4096Bytes()
    {
        var text = new string('a', 10_000);

        Assert.Equal(4096, PromptText.Prefix(text, 4096).Length);
    }

    [Fact]
    public void Prefix_MultiByte_FitsTheByteBudget()
    {
        var text = string.Concat(Enumerable.Repeat("函数é", 3000));

        var prefix = PromptText.Prefix(text, 4096);

        Assert.True(Encoding.UTF8.GetByteCount(prefix) <= 4096);
        Assert.True(Encoding.UTF8.GetByteCount(text.AsSpan(0, prefix.Length + 1)) > 4096);
    }

    [Fact]
    public void Prefix_NeverSplitsASurrogatePair()
    {
        var text = "a" + string.Concat(Enumerable.Repeat("😀", 2000));

        var prefix = PromptText.Prefix(text, 4096);

        Assert.Equal(1 + (1023 * 2), prefix.Length);
        Assert.False(char.IsHighSurrogate(prefix[^1]));
    }

    [Fact]
    public void Prefix_AsciiRunsBetweenOtherCharacters_LongestPrefixThatFits()
    {
        foreach (var (text, budget) in MixedTexts(seed: 7))
        {
            Assert.Equal(ReferencePrefixLength(text, budget), PromptText.Prefix(text, budget).Length);
        }
    }

    [Fact]
    public void Prefix_ShortText_Whole()
    {
        Assert.Equal("hello", PromptText.Prefix("hello", 4096).ToString());
    }

    [Fact]
    public void Suffix_AsciiRunsBetweenOtherCharacters_LongestSuffixThatFits()
    {
        foreach (var (text, budget) in MixedTexts(seed: 11))
        {
            Assert.Equal(ReferenceSuffixLength(text, budget), PromptText.Suffix(text, budget).Length);
        }
    }

    [Fact]
    public void Window_FitsTheBudget_WholeMessage()
    {
        var text = new string('a', PromptText.MaxWindowBytes);

        var window = PromptText.Window(text);

        Assert.Equal(text, window.Head.ToString());
        Assert.True(window.Tail.IsEmpty);
    }

    [Fact]
    public void Window_Longer_HeadAndTailFromALineStart()
    {
        var middle = string.Concat(Enumerable.Repeat("line of pasted material\n", 400));
        var text = "Instruction at the start.\n" + middle + "Explain what this does, in plain words.";

        var window = PromptText.Window(text);

        Assert.Equal(PromptText.HeadBytes, window.Head.Length);
        Assert.StartsWith("Instruction at the start.", window.Head.ToString(), StringComparison.Ordinal);
        Assert.True(window.Tail.Length <= PromptText.TailBytes);
        Assert.EndsWith("\nExplain what this does, in plain words.", window.Tail.ToString(), StringComparison.Ordinal);
        Assert.StartsWith("line of pasted material\n", window.Tail.ToString(), StringComparison.Ordinal);
        Assert.False(window.TailStartsInFence);
    }

    [Fact]
    public void Window_OneLongLine_TailFromAWordStart()
    {
        var text = string.Concat(Enumerable.Repeat("word ", 1000)) + "end";

        var window = PromptText.Window(text);

        Assert.StartsWith("word ", window.Tail.ToString(), StringComparison.Ordinal);
        Assert.EndsWith("end", window.Tail.ToString(), StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("```python\n", "", true)]
    [InlineData("  ```\n", "", true)]
    [InlineData("```python\n", "```\nSome prose between two blocks.\n~~~\n", true)]
    [InlineData("```python\n", "```\n", false)]
    [InlineData("Prose that mentions ``` inline.\n", "", false)]
    public void Window_TailInsideAFenceOpenedBefore_Known(string opening, string between, bool inFence)
    {
        var code = string.Concat(Enumerable.Repeat("    total += item.price * item.quantity\n", 60));
        var text = "Look at this:\n" + opening + code + between + code + "    return total\n";

        var window = PromptText.Window(text);

        Assert.False(window.Tail.IsEmpty);
        Assert.Equal(inFence, window.TailStartsInFence);
    }

    [Fact]
    public void Select_FirstSystemAndLastUser()
    {
        (string Role, string Content)[] messages =
        [
            ("developer", "dev rules"), ("system", "second system"), ("user", "first"), ("assistant", "answer"), ("user", "last"), ("tool", "x"),
        ];

        var (system, user) = PromptText.Select(messages, m => m.Role, m => m.Content);

        Assert.Equal("dev rules", system);
        Assert.Equal("last", user);
    }

    [Theory]
    [InlineData("system", true)]
    [InlineData("developer", true)]
    [InlineData("tool", true)]
    [InlineData("User", false)]
    [InlineData("function", false)]
    public void IsKnownRole_OpenAiRolesOnly(string role, bool known)
    {
        Assert.Equal(known, PromptText.IsKnownRole(role));
    }

    /// <summary>
    /// 300 texts of ASCII runs of every length around 2-, 3- and 4-byte characters and lone surrogates, each with a
    /// byte budget that cuts it somewhere.
    /// </summary>
    private static IEnumerable<(string Text, int Budget)> MixedTexts(int seed)
    {
        var random = new Random(seed);
        string[] pieces = ["a", "hello world ", "é", "函", "😀", "\uD800", "\uDC00", "\n", new string('x', 70)];
        for (var n = 0; n < 300; n++)
        {
            var text = new StringBuilder();
            while (text.Length < 1_500)
            {
                text.Append(pieces[random.Next(pieces.Length)]);
            }

            yield return (text.ToString(), random.Next(1, 3_000));
        }
    }

    /// <summary>Grows the suffix one character (or surrogate pair) at a time while its UTF-8 size fits; a lone surrogate counts 3 bytes.</summary>
    private static int ReferenceSuffixLength(string text, int maxBytes)
    {
        var start = text.Length;
        var bytes = 0;
        while (start > 0)
        {
            var width = char.IsLowSurrogate(text[start - 1]) && start >= 2 && char.IsHighSurrogate(text[start - 2]) ? 2 : 1;
            var size = width == 2 ? 4 : Encoding.UTF8.GetByteCount(text.AsSpan(start - 1, 1));
            if (bytes + size > maxBytes)
            {
                break;
            }

            bytes += size;
            start -= width;
        }

        return text.Length - start;
    }

    /// <summary>Grows the prefix one character (or surrogate pair) at a time while its UTF-8 size fits; a lone surrogate counts 3 bytes.</summary>
    private static int ReferencePrefixLength(string text, int maxBytes)
    {
        var length = 0;
        var bytes = 0;
        while (length < text.Length)
        {
            var width = char.IsHighSurrogate(text[length]) && length + 1 < text.Length && char.IsLowSurrogate(text[length + 1]) ? 2 : 1;
            var size = width == 2 ? 4 : Encoding.UTF8.GetByteCount(text.AsSpan(length, 1));
            if (bytes + size > maxBytes)
            {
                break;
            }

            bytes += size;
            length += width;
        }

        return length;
    }
}
