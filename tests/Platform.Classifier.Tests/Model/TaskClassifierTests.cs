using Platform.Classifier.Features;
using Platform.Classifier.Model;

namespace Platform.Classifier.Tests.Model;

public sealed class TaskClassifierTests
{
    private static readonly TaskClassifier Classifier = new(ClassifierModel.Default);

    [Theory]
    [InlineData("Write a Python function that merges two sorted lists.")]
    [InlineData("SQL query for the ten best-selling products last month")]
    [InlineData("Écris un script bash qui compresse les fichiers de log.")]
    [InlineData("用Go写一个HTTP服务器。")]
    public void Classify_CodeAsks_Code(string prompt)
    {
        var decision = Classifier.Classify("", prompt);

        Assert.True(decision.IsCode);
        Assert.InRange(decision.Confidence, 0.5, 1.0);
    }

    [Theory]
    [InlineData("Write a poem about the sea at night.")]
    [InlineData("What is the difference between a process and a thread?")]
    [InlineData("How do I get rust off my bike chain?")]
    [InlineData("Explique-moi la photosynthèse.")]
    public void Classify_ProseAsks_General(string prompt)
    {
        var decision = Classifier.Classify("", prompt);

        Assert.False(decision.IsCode);
        Assert.InRange(decision.Confidence, 0.5, 1.0);
    }

    [Fact]
    public void Classify_StrongestFeatures_SortedByAbsoluteWeightWithoutBias()
    {
        Span<FeatureContribution> strongest = stackalloc FeatureContribution[TaskClassifier.ReportedFeatures];

        Classifier.Classify("", "Write unit tests in Java for this class, code only.", strongest, out var count);

        Assert.InRange(count, 3, TaskClassifier.ReportedFeatures);
        var weights = strongest[..count].ToArray().Select(f => Math.Abs(f.Weight)).ToList();
        Assert.Equal(weights.OrderByDescending(w => w), weights);
        Assert.DoesNotContain(strongest[..count].ToArray(), f => Classifier.Model.Name(f.Feature) == "bias");
    }

    [Fact]
    public void Classify_ReportedFeatures_MatchExplain()
    {
        Span<FeatureContribution> strongest = stackalloc FeatureContribution[TaskClassifier.ReportedFeatures];
        const string prompt = "Why does my regex not match newlines? I want to understand it.";

        var decision = Classifier.Classify("", prompt, strongest, out var count);
        var (explained, features) = Classifier.Explain("", prompt);

        Assert.Equal(explained, decision);
        var expected = features.Where(f => f.Name != "bias").Take(count).Select(f => f.Name).ToList();
        Assert.Equal(expected, strongest[..count].ToArray().Select(f => Classifier.Model.Name(f.Feature)).ToList());
    }

    [Fact]
    public void Classify_AfterWarmUp_AllocatesNothing()
    {
        var prompt = string.Concat(Enumerable.Repeat("Please write a Go function that parses this:\n    x := map[string]int{\"a\": 1}\n", 60));
        var strongest = new FeatureContribution[TaskClassifier.ReportedFeatures];
        Classifier.Classify("You are a coding assistant.", prompt, strongest, out _);

        var before = GC.GetAllocatedBytesForCurrentThread();
        for (var i = 0; i < 100; i++)
        {
            Classifier.Classify("You are a coding assistant.", prompt, strongest, out _);
        }

        Assert.Equal(0, GC.GetAllocatedBytesForCurrentThread() - before);
    }

    [Fact]
    public void Classify_TheMiddleOfALongMessageIsNotRead()
    {
        var story = string.Concat(Enumerable.Repeat("Tell me a story about a lighthouse keeper and the sea.\n", 80));
        var withCodeInTheMiddle = story[..2000] + "Write a Python function, a SQL query and a bash script.\n" + story[2000..];

        var plain = Classifier.Explain("", story);
        var other = Classifier.Explain("", withCodeInTheMiddle);

        Assert.True(story.Length > PromptText.MaxWindowBytes);
        Assert.Equal(plain.Decision, other.Decision);
        Assert.Equal(plain.Features, other.Features);
    }

    [Fact]
    public void Classify_RequestAfterALongPaste_TheTailDecides()
    {
        var code = "```java\n" + string.Concat(Enumerable.Range(0, 80).Select(i => $"    int value{i} = compute(input, {i}); // step {i}\n")) + "```\n";

        var explain = Classifier.Classify("", code + "What does this code do? Explain it to me in plain words, I am not a programmer.");
        var port = Classifier.Classify("", code + "Rewrite this in Rust and add unit tests.");

        Assert.False(explain.IsCode);
        Assert.True(port.IsCode);
    }

    [Fact]
    public void Classify_ManyThreads_SameAnswers()
    {
        string[] prompts = ["Write a Rust struct for a matrix.", "Tell me about the history of Rome.", "Fix this: int x = ;", "Explain closures."];
        var expected = prompts.Select(p => Classifier.Classify("", p)).ToArray();

        Parallel.For(0, 4000, i => Assert.Equal(expected[i % prompts.Length], Classifier.Classify("", prompts[i % prompts.Length])));
    }

    [Fact]
    public void Model_Find_EveryWordAndBigramFeatureAndLexiconTerm()
    {
        var model = ClassifierModel.Default;
        var hashed = 0;
        for (var feature = 0; feature < model.FeatureCount; feature++)
        {
            var name = model.Name(feature);
            if (name.StartsWith("w:", StringComparison.Ordinal) || name.StartsWith("b:", StringComparison.Ordinal))
            {
                Assert.Equal(feature, model.Find(FeatureHash.Of(name)).Feature);
                hashed++;
            }
        }

        Assert.True(hashed > 1_000);
        foreach (var (name, concepts) in Lexicon.Terms)
        {
            Assert.Equal(concepts, model.Find(FeatureHash.Of(name)).Concepts);
        }
    }

    [Fact]
    public void Model_Find_UnknownHashes_NotFound()
    {
        var model = ClassifierModel.Default;
        var found = 0;
        for (var n = 0; n < 100_000; n++)
        {
            var (feature, concepts) = model.Find(FeatureHash.Word($"zq{n}x"));
            found += feature >= 0 || concepts != Concept.None ? 1 : 0;
        }

        Assert.Equal(0, found);
    }

    [Fact]
    public void Model_Parse_RejectsMalformedLines()
    {
        Assert.Throws<FormatException>(() => ClassifierModel.Parse(new StringReader("# header\nnot-a-number\tw:x\n")));
        Assert.Throws<FormatException>(() => ClassifierModel.Parse(new StringReader("+1.0\tw:x\n+2.0\tw:x\n")));
    }

    [Fact]
    public void Model_Parse_WeightsAndLexiconConcepts()
    {
        var model = ClassifierModel.Parse(new StringReader("# test\n+1.5000\tw:write\n-0.2500\tbias\n+2.0000\tlex:make\n"));
        var classifier = new TaskClassifier(model);

        var (decision, features) = classifier.Explain("", "write");

        Assert.Equal(["lex:make", "w:write", "bias"], features.Select(f => f.Name));
        Assert.Equal(1 / (1 + Math.Exp(-(1.5 - 0.25 + 2.0))), decision.CodeProbability, 6);
        Assert.Equal(["test"], model.Header);
    }
}
