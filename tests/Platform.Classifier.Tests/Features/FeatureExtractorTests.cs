using Platform.Classifier.Features;
using Platform.Classifier.Training;

namespace Platform.Classifier.Tests.Features;

public sealed class FeatureExtractorTests
{
    private static HashSet<string> Features(string user, string system = "") => NamingSink.Of(system, user);

    [Fact]
    public void Extract_Prose_WordsBigramsAndConcepts()
    {
        var features = Features("Write a Python function that sorts a list.");

        Assert.Contains("w:write", features);
        Assert.Contains("b:python function", features);
        Assert.Contains("lex:make", features);
        Assert.Contains("lex:make&code_noun", features);
        Assert.Contains("s:prose_words_1_8", features);
        Assert.Contains("bias", features);
        Assert.DoesNotContain("s:code_lines_1_3", features);
    }

    [Fact]
    public void Extract_PastedCode_GivesNoWordsOnlyLayout()
    {
        var features = Features("""
            What does this do?

            def unique(xs):
                seen = set()
                return [x for x in xs if not (x in seen or seen.add(x))]
            """);

        Assert.Contains("w:what", features);
        Assert.DoesNotContain("w:seen", features);
        Assert.DoesNotContain("w:unique", features);
        Assert.Contains("s:code_lines_1_3", features);
        Assert.Contains("lex:code_present", features);
        Assert.Contains("lex:explain&code_present", features);
        Assert.Contains("s:question_mark", features);
    }

    [Fact]
    public void Extract_FencedBlock_CountsEveryLineAsCodeEvenUnclosed()
    {
        var features = Features("Fix it:\n```\nhello world this reads like prose\nand so does this\n");

        Assert.Contains("s:fenced_code", features);
        Assert.DoesNotContain("w:prose", features);
        Assert.Contains("lex:fix", features);
    }

    [Fact]
    public void Extract_ProseBeforeCodeOnOneLine_KeepsTheRequestWords()
    {
        var features = Features("Explain what this regex matches: ^(?=.*[A-Z])(?=.*\\d).{8,}$");

        Assert.Contains("w:explain", features);
        Assert.Contains("b:regex matches", features);
        Assert.Contains("s:code_lines_1_3", features);
    }

    [Fact]
    public void Extract_QuotedPassage_WordsLeftOut()
    {
        var features = Features("Translate to German: \"Our API returns a JSON response when the request fails\"");

        Assert.Contains("lex:translate", features);
        Assert.Contains("s:quoted_text", features);
        Assert.DoesNotContain("w:api", features);
        Assert.DoesNotContain("w:json", features);
    }

    [Fact]
    public void Extract_ShortQuote_WordsKept()
    {
        Assert.Contains("w:idempotent", Features("What does \"idempotent\" mean?"));
    }

    [Fact]
    public void Extract_CjkAndKatakana_CharacterGramsAndWholeWords()
    {
        var chinese = Features("用Python写一个函数");
        var japanese = Features("コードを書いてください");

        Assert.Contains("w:函数", chinese);
        Assert.Contains("w:写", chinese);
        Assert.Contains("w:python", chinese);
        Assert.Contains("lex:code_noun", chinese);
        Assert.Contains("w:コード", japanese);
        Assert.Contains("lex:code_noun", japanese);
    }

    [Theory]
    [InlineData("I like c++ and c# and f#", "w:c++")]
    [InlineData("I like c++ and c# and f#", "w:c#")]
    [InlineData("Ünïcode WÖRDS are lowercased", "w:wörds")]
    public void Extract_Tokens_AreLowercasedAndKeepLanguageNames(string text, string feature)
    {
        Assert.Contains(feature, Features(text));
    }

    [Fact]
    public void Extract_SystemMessage_ConceptsOnTheirOwn()
    {
        var features = Features("List three fruits.", "Reply with valid JSON only.");

        Assert.Contains("s:system_message", features);
        Assert.Contains("lex:sys_data_format", features);
        Assert.Contains("lex:sys_output_only", features);
        Assert.DoesNotContain("lex:data_format", features);
    }

    [Fact]
    public void Extract_StackTrace_IsRecognised()
    {
        var features = Features("Why?\n\nTraceback (most recent call last):\n  File \"a.py\", line 3, in <module>\nTypeError: bad operand");

        Assert.Contains("s:stack_trace", features);
        Assert.DoesNotContain("w:bad", features);
    }

    [Theory]
    [InlineData("123€ write", "w:write", "w:123")]
    [InlineData("abc€ write", "w:abc", "w:€")]
    [InlineData("ÉCOLE Straße", "w:école", "w:ÉCOLE")]
    [InlineData("naïve café", "b:naïve café", "w:na")]
    [InlineData("a_b A_B", "w:a_b", "w:A_B")]
    public void Extract_WordsAcrossAsciiAndOtherLetters_LowercasedWholeDigitsDropped(string text, string present, string absent)
    {
        var features = Features(text);

        Assert.Contains(present, features);
        Assert.DoesNotContain(absent, features);
    }

    [Fact]
    public void Lexicon_EveryTerm_IsWhatTheTokenizerProducesForIt()
    {
        var unreachable = Lexicon.Terms.Keys
            .Where(name => !Features(name[2..]).Contains(name))
            .ToList();

        Assert.True(unreachable.Count == 0, "never matched: " + string.Join(", ", unreachable));
    }

    [Fact]
    public void NamedFeatures_PairIds_AreDenseAndMatchTheirNames()
    {
        var n = NamedFeatures.Concepts.Length;
        var ids = new HashSet<int>();
        for (var a = 0; a < n; a++)
        {
            Assert.Equal("lex:" + NamedFeatures.Concepts[a].Name, NamedFeatures.Names[NamedFeatures.ConceptFeature(a)]);
            Assert.Equal("lex:sys_" + NamedFeatures.Concepts[a].Name, NamedFeatures.Names[NamedFeatures.SystemConceptFeature(a)]);
            Assert.Equal(1 << a, (int)NamedFeatures.Concepts[a].Concept);
            for (var b = a + 1; b < n; b++)
            {
                var id = NamedFeatures.PairFeature(a, b);
                Assert.True(ids.Add(id));
                Assert.Equal($"lex:{NamedFeatures.Concepts[a].Name}&{NamedFeatures.Concepts[b].Name}", NamedFeatures.Names[id]);
            }
        }

        Assert.Equal(NamedFeatures.Count, NamedFeatures.Names.Distinct().Count());
    }

    [Fact]
    public void FeatureHash_OfSpans_EqualsHashOfTheName()
    {
        Assert.Equal(FeatureHash.Of("w:function"), FeatureHash.Word("function"));
        Assert.Equal(FeatureHash.Of("b:write a"), FeatureHash.Bigram(FeatureHash.Word("write"), FeatureHash.Word("a")));
        Assert.NotEqual(FeatureHash.Of("b:write a"), FeatureHash.Of("b:a write"));
        Assert.Equal(FeatureHash.WordSeed, FeatureHash.Append(FeatureHash.Append(FeatureHash.Seed, 'w'), ':'));
    }
}
