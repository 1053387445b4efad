using Platform.Classifier.Model;
using Platform.Classifier.Training;

namespace Platform.Classifier.Tests.Training;

/// <summary>The checked-in dataset and model: accuracy on data the model was not trained on, calibration, honesty of the split.</summary>
public sealed class DatasetTests
{
    private static readonly string Data = Dataset.LocateDataDirectory();
    private static readonly TaskClassifier Classifier = new(ClassifierModel.Default);

    private static IReadOnlyList<LabeledPrompt> Load(string file) => Dataset.Load(Path.Combine(Data, file));

    [Theory]
    [InlineData(Dataset.DevFile)]
    [InlineData(Dataset.TestFile)]
    public void ShippedModel_HeldOutSet_AccuracyAtLeast95Percent(string file)
    {
        var report = Evaluation.Evaluate(Classifier, Load(file));

        Assert.True(report.Accuracy >= 0.95, Evaluation.Format(file, report, listErrors: true));
        Assert.True(report.CodePrecision >= 0.9 && report.CodeRecall >= 0.9 && report.GeneralPrecision >= 0.9 && report.GeneralRecall >= 0.9);
    }

    [Fact]
    public void ShippedModel_Dev_IsCalibrated()
    {
        var report = Evaluation.Evaluate(Classifier, Load(Dataset.DevFile));

        // Confident answers are right about as often as they claim; the error is small overall.
        Assert.True(report.ExpectedCalibrationError < 0.06, $"ECE {report.ExpectedCalibrationError}");
        var confident = report.Reliability[^1];
        Assert.True(confident.Count > report.Count / 2);
        Assert.True(confident.Accuracy >= 0.95, $"accuracy {confident.Accuracy} at mean confidence {confident.MeanConfidence}");
    }

    [Fact]
    public void Dataset_Sets_AreBalancedMultilingualAndDistinct()
    {
        var train = Load(Dataset.TrainFile);
        var dev = Load(Dataset.DevFile);
        var test = Load(Dataset.TestFile);

        Assert.True(train.Count + dev.Count + test.Count >= 600);
        foreach (var set in new[] { train, dev, test })
        {
            var code = set.Count(p => p.IsCode) / (double)set.Count;
            Assert.InRange(code, 0.4, 0.6);
        }

        string[] languages = ["en", "fr", "de", "es", "zh", "ja", "pt", "ru"];
        Assert.All(languages, l => Assert.Contains(train, p => p.Language == l));
        Assert.All(languages, l => Assert.Contains(dev, p => p.Language == l));

        // No held-out prompt is a near copy of a training prompt (word 3-shingle Jaccard similarity).
        var trainShingles = train.Select(p => Shingles(p.Text.User)).ToList();
        foreach (var prompt in dev.Concat(test))
        {
            var shingles = Shingles(prompt.Text.User);
            var closest = trainShingles.Max(t => Jaccard(t, shingles));
            Assert.True(closest < 0.5, $"line {prompt.Line} is close to a training prompt ({closest:F2}): {prompt.Text.User}");
        }
    }

    private static HashSet<string> Shingles(string text)
    {
        var words = text.ToLowerInvariant().Split((char[])[' ', '\n', '\t'], StringSplitOptions.RemoveEmptyEntries);
        return words.Length < 3 ? [string.Join(' ', words)] : Enumerable.Range(0, words.Length - 2).Select(i => string.Join(' ', words[i..(i + 3)])).ToHashSet();
    }

    private static double Jaccard(HashSet<string> a, HashSet<string> b) =>
        a.Count + b.Count == 0 ? 0 : a.Intersect(b).Count() / (double)a.Union(b).Count();
}
