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
}
