using System.Text;
using Platform.Classifier.Features;
using Platform.Classifier.Training;

namespace Platform.Classifier.Tests.Features;

/// <summary>
/// The vectorised tokenizer must give every prompt exactly the features the one-character-at-a-time extractor gave
/// (<see cref="ReferenceFeatureExtractor"/>): the shipped weights were trained on those.
/// </summary>
public sealed class FeatureExtractorEquivalenceTests
{
    private static readonly string Data = Dataset.LocateDataDirectory();

    public static TheoryData<string> DataSets => [Dataset.TrainFile, Dataset.DevFile, Dataset.TestFile];

    [Theory]
    [MemberData(nameof(DataSets))]
    public void Extract_EveryPromptOfTheDataSets_SameFeaturesAsTheReference(string file)
    {
        foreach (var prompt in Dataset.Load(Path.Combine(Data, file)))
        {
            AssertSameFeatures(prompt.Text.System, prompt.Text.User);
        }
    }

    [Fact]
    public void Extract_FourKilobytePromptsOfTheBenchmark_SameFeaturesAsTheReference()
    {
        var dev = Dataset.Load(Path.Combine(Data, Dataset.DevFile));
        for (var k = 0; k < 16; k++)
        {
            var text = new StringBuilder();
            for (var i = k; Encoding.UTF8.GetByteCount(text.ToString()) < 4096; i += 7)
            {
                text.Append(dev[i % dev.Count].Text.User).Append("\n\n");
            }

            AssertSameFeatures("You are a helpful assistant.", text.ToString());
        }
    }

    [Theory]
    [InlineData("")]
    [InlineData(" ")]
    [InlineData("\n\n \t\n")]
    [InlineData("a")]
    [InlineData("c#")]
    [InlineData("c")]
    [InlineData("c+")]
    [InlineData("c++")]
    [InlineData("I use c# and c++ and f#, not c+ or 1#")]
    [InlineData("12345 678 abc123 123abc _ __init__ 2024")]
    [InlineData("abcdefghijklmnopqrstuvwx abcdefghijklmnopqrstuvwxy abcdefgh abcdefghi abcdefghijklmnop abcdefghijklmnopq")]
    [InlineData("café naïve ÉCOLE Straße Ünïcode abc€ 123€ €abc x€y")]
    [InlineData("Напиши функцию на Python, которая сортирует список.")]
    [InlineData("用Python写一个函数，コードを書いてください。함수를 작성해 주세요")]
    [InlineData("qu'est-ce que c'est ? « un passage entre guillemets ici » „noch ein Zitat hier drin“")]
    [InlineData("Explain `foo()` and `bar` please; \"a quoted passage of words here\" and 'another quoted one here'")]
    [InlineData("emoji 😀 between words 👍🏽 and a lone high \ud83d surrogate and a lone low \ude00 one")]
    [InlineData("tab\tseparated\twords\r\nwith\rcarriage returns\u00a0and\u2003odd spaces")]
    public void Extract_EdgeCases_SameFeaturesAsTheReference(string user)
    {
        AssertSameFeatures("", user);
        AssertSameFeatures(user, "Write a function.");
    }

    [Fact]
    public void Extract_WordsAcrossEveryBlockBoundary_SameFeaturesAsTheReference()
    {
        // Words of every length starting at every offset around the 64-character blocks the tokenizer scans.
        foreach (var word in new[] { "x", "c#", "c++", "python", "function", "abcdefghijklmnopqrstuvw", "abcdefghijklmnopqrstuvwxyz", "Wörter", "12", "a1" })
        {
            for (var offset = 50; offset < 140; offset++)
            {
                AssertSameFeatures("", new string(' ', offset) + word + " write a");
                AssertSameFeatures("", "write " + new string('-', offset) + word);
                AssertSameFeatures("", new string('a', offset) + " " + word);
            }
        }
    }

    [Fact]
    public void Extract_VeryLongLines_SameFeaturesAsTheReference()
    {
        var words = string.Join(' ', Enumerable.Range(0, 3000).Select(i => i % 3 == 0 ? "write" : i % 3 == 1 ? "a" : "function"));
        AssertSameFeatures("", words);
        AssertSameFeatures("", new string('a', 10_000));
        AssertSameFeatures("", new string(' ', 9_000) + "write a function");
        AssertSameFeatures(words, words);
    }

    [Fact]
    public void Extract_PrefixCutInASurrogatePair_SameFeaturesAsTheReference()
    {
        // 4,094 bytes of ASCII, then a 4-byte emoji: the prefix ends before the pair, never inside it.
        var user = "write a " + new string('b', 4086) + "😀 tail words";
        Assert.Equal(4094, PromptText.Prefix(user).Length);
        AssertSameFeatures("", user);
        AssertSameFeatures("", "write a function " + string.Concat(Enumerable.Repeat("😀x ", 2000)));
    }

    [Fact]
    public void Extract_GeneratedText_SameFeaturesAsTheReference()
    {
        string[] pieces =
        [
            "a", "Write", "THE", "function", "_x", "x_1", "42", "c", "#", "+", "++", " ", " ", " ", " ", "  ", "\t", "\n", "\n",
            ".", ",", "!", "?", ":", ";", "(", ")", "[", "]", "{", "}", "=", "<", ">", "-", "/", "\\", "$", "&", "|", "*", "%",
            "\"", "'", "`", "```", "~~~", "«", "»", "“", "”", "„", "「", "」", "『", "』", "？", "，", "。",
            "é", "Straße", "функция", "写", "函数", "コード", "함수", "😀", "\ud83d", "\u00a0", "€", "def ", "SELECT ", "    ",
            "at Foo.bar(Baz.java:12)", "TypeError: x", "key: value", "- name: x", "<div>", "});", "$ ls -la",
        ];
        var random = new Random(20261202);
        for (var n = 0; n < 3000; n++)
        {
            var text = new StringBuilder();
            var count = random.Next(1, n % 10 == 0 ? 900 : 120);
            for (var k = 0; k < count; k++)
            {
                text.Append(pieces[random.Next(pieces.Length)]);
            }

            AssertSameFeatures(n % 4 == 0 ? text.ToString(0, text.Length / 3) : "", text.ToString());
        }
    }

    [Fact]
    public void FeatureHash_AsciiWordFromItsBytes_EqualsTheWordHash()
    {
        var bytes = new byte[64];
        for (var length = 1; length <= 24; length++)
        {
            var word = new string('q', length - 1) + "z";
            Encoding.ASCII.GetBytes(word, bytes);
            bytes.AsSpan(length).Fill((byte)'!');

            Assert.Equal(FeatureHash.Word(word), FeatureHash.AsciiWord(ref bytes[0], length));
            Assert.Equal(FeatureHash.Of("w:" + word), FeatureHash.Word(word));
        }
    }

    [Theory]
    [InlineData("é")]
    [InlineData("函数")]
    [InlineData("функция")]
    [InlineData("コード")]
    [InlineData("straße")]
    [InlineData("😀x")]
    [InlineData("\ud83d")]
    [InlineData("abcdefghijklmnopqrstuvwxyzabcdefghijklmnopqrstuvwxyz")]
    public void FeatureHash_WordOfAnyCharacters_IsTheHashOfItsUtf8Bytes(string word)
    {
        Assert.Equal(FeatureHash.Word(Encoding.UTF8.GetBytes(word)), FeatureHash.Word(word));
    }

    private static void AssertSameFeatures(string system, string user)
    {
        var expected = new NameSink(new HashSet<string>(StringComparer.Ordinal));
        ReferenceFeatureExtractor.Extract(PromptText.Prefix(system), PromptText.Prefix(user), ref expected);

        // NamingSink finds concepts by hash: equal sets also mean the hashes agree with the names.
        var actual = NamingSink.Of(system, user);

        if (!expected.Names.SetEquals(actual))
        {
            var missing = string.Join(", ", expected.Names.Except(actual));
            var extra = string.Join(", ", actual.Except(expected.Names));
            Assert.Fail($"features differ for user '{Shorten(user)}' / system '{Shorten(system)}': missing [{missing}], extra [{extra}]");
        }
    }

    private static string Shorten(string text) => text.Length <= 200 ? text : text[..200] + "...";

    /// <summary>Names features and finds concepts by name, so the reference needs none of today's hashes.</summary>
    private readonly struct NameSink(HashSet<string> names) : IFeatureSink
    {
        public HashSet<string> Names { get; } = names;

        public bool NeedsText => true;

        public Concept Word(ulong hash, ReadOnlySpan<char> word) => Add(string.Concat("w:", word));

        public Concept Bigram(ulong hash, ReadOnlySpan<char> first, ReadOnlySpan<char> second) => Add(string.Concat("b:", first, " ", second));

        public void Named(int id) => Names.Add(NamedFeatures.Names[id]);

        private Concept Add(string name)
        {
            Names.Add(name);
            return Lexicon.Terms.GetValueOrDefault(name);
        }
    }
}
