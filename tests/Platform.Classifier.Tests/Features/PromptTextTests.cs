using System.Text;
using Platform.Classifier.Features;

namespace Platform.Classifier.Tests.Features;

public sealed class PromptTextTests
{
    [Fact]
    public void Prefix_Ascii_CutAt4096Bytes()
    {
        var text = new string('a', 10_000);

        Assert.Equal(4096, PromptText.Prefix(text).Length);
    }

    [Fact]
    public void Prefix_MultiByte_FitsTheByteBudget()
    {
        var text = string.Concat(Enumerable.Repeat("函数é", 3000));

        var prefix = PromptText.Prefix(text);

        Assert.True(Encoding.UTF8.GetByteCount(prefix) <= 4096);
        Assert.True(Encoding.UTF8.GetByteCount(text.AsSpan(0, prefix.Length + 1)) > 4096);
    }

    [Fact]
    public void Prefix_NeverSplitsASurrogatePair()
    {
        var text = "a" + string.Concat(Enumerable.Repeat("😀", 2000));

        var prefix = PromptText.Prefix(text);

        Assert.Equal(1 + (1023 * 2), prefix.Length);
        Assert.False(char.IsHighSurrogate(prefix[^1]));
    }

    [Fact]
    public void Prefix_AsciiRunsBetweenOtherCharacters_LongestPrefixThatFits()
    {
        // ASCII runs of every length around 2-, 3- and 4-byte characters and lone surrogates, cut at every budget edge.
        var random = new Random(7);
        string[] pieces = ["a", "hello world ", "é", "函", "😀", "\uD800", "\uDC00", "\n", new string('x', 70)];
        for (var n = 0; n < 300; n++)
        {
            var text = new StringBuilder();
            while (text.Length < 1_500)
            {
                text.Append(pieces[random.Next(pieces.Length)]);
            }

            var s = text.ToString();
            var budget = random.Next(1, 3_000);

            Assert.Equal(ReferencePrefixLength(s, budget), PromptText.Prefix(s, budget).Length);
        }
    }

    [Fact]
    public void Prefix_ShortText_Whole()
    {
        Assert.Equal("hello", PromptText.Prefix("hello").ToString());
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
