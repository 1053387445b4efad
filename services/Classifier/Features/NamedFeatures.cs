using System.Numerics;

namespace Platform.Classifier.Features;

/// <summary>
/// Features that are not words: the bias, what the layout of the prompt shows (code fences, lines that read as
/// code, a stack trace, how much prose the request has, a quoted passage), each concept and each pair of concepts
/// present together in the user's message ("lex:explain&amp;code_present": code was pasted and an explanation is asked
/// for), and the concepts of the system message on their own ("lex:sys_output_only": a system message sets the form
/// of every answer). Ids are dense, so the model maps them to weights with one array.
/// </summary>
internal static class NamedFeatures
{
    public const int Bias = 0;
    public const int FencedCode = 1;
    public const int InlineCode = 2;
    public const int CodeLinesFew = 3;
    public const int CodeLinesSome = 4;
    public const int CodeLinesMany = 5;
    public const int MostlyCode = 6;
    public const int StackTrace = 7;
    public const int NoProse = 8;
    public const int ProseShort = 9;
    public const int ProseMedium = 10;
    public const int ProseLong = 11;
    public const int ProseVeryLong = 12;
    public const int Question = 13;
    public const int SystemMessage = 14;
    public const int QuotedText = 15;
    private const int FirstConcept = 16;

    /// <summary>The concepts in bit order, with their short names.</summary>
    public static readonly (Concept Concept, string Name)[] Concepts =
    [
        (Concept.Make, "make"), (Concept.CodeNoun, "code_noun"), (Concept.ProgLang, "prog_lang"), (Concept.ProseNoun, "prose_noun"),
        (Concept.Explain, "explain"), (Concept.Fix, "fix"), (Concept.Translate, "translate"), (Concept.HumanLang, "human_lang"),
        (Concept.DataFormat, "data_format"), (Concept.OutputOnly, "output_only"), (Concept.Math, "math"), (Concept.How, "how"),
        (Concept.ProseOnly, "prose_only"), (Concept.CodePresent, "code_present"),
    ];

    private static readonly int FirstPair = FirstConcept + Concepts.Length;
    private static readonly int FirstSystemConcept = FirstPair + (Concepts.Length * (Concepts.Length - 1) / 2);

    /// <summary>Every named feature's name, by id.</summary>
    public static readonly string[] Names = BuildNames();

    public static int Count => Names.Length;

    /// <summary>Id of the feature "lex:{concept}" for the concept at bit <paramref name="bit"/>.</summary>
    public static int ConceptFeature(int bit) => FirstConcept + bit;

    /// <summary>Id of the feature "lex:{a}&amp;{b}" for concept bits <paramref name="a"/> &lt; <paramref name="b"/>.</summary>
    public static int PairFeature(int a, int b)
    {
        var n = Concepts.Length;

        // Row-major index into the upper triangle without the diagonal.
        return FirstPair + (a * ((2 * n) - a - 1) / 2) + (b - a - 1);
    }

    /// <summary>Id of the feature "lex:sys_{concept}": a concept found in the system message.</summary>
    public static int SystemConceptFeature(int bit) => FirstSystemConcept + bit;

    /// <summary>Emits the concept and concept-pair features of <paramref name="present"/> (the user's message).</summary>
    public static void ForConcepts<TSink>(Concept present, ref TSink sink) where TSink : struct, IFeatureSink
    {
        var bits = (uint)present;
        for (var rest = bits; rest != 0; rest &= rest - 1)
        {
            var a = BitOperations.TrailingZeroCount(rest);
            sink.Named(ConceptFeature(a));
            for (var others = rest & (rest - 1); others != 0; others &= others - 1)
            {
                sink.Named(PairFeature(a, BitOperations.TrailingZeroCount(others)));
            }
        }
    }

    private static string[] BuildNames()
    {
        var names = new List<string>
        {
            "bias", "s:fenced_code", "s:inline_code", "s:code_lines_1_3", "s:code_lines_4_15", "s:code_lines_16_plus",
            "s:mostly_code", "s:stack_trace", "s:prose_words_0", "s:prose_words_1_8", "s:prose_words_9_30",
            "s:prose_words_31_100", "s:prose_words_100_plus", "s:question_mark", "s:system_message", "s:quoted_text",
        };
        foreach (var (_, name) in Concepts)
        {
            names.Add("lex:" + name);
        }

        for (var a = 0; a < Concepts.Length; a++)
        {
            for (var b = a + 1; b < Concepts.Length; b++)
            {
                names.Add($"lex:{Concepts[a].Name}&{Concepts[b].Name}");
            }
        }

        foreach (var (_, name) in Concepts)
        {
            names.Add("lex:sys_" + name);
        }

        return [.. names];
    }
}
