using System.Globalization;
using System.Text;
using Platform.Classifier.Model;

namespace Platform.Classifier.Training;

/// <summary>One bin of a reliability table: prompts whose confidence fell in [Low, High).</summary>
internal sealed record ReliabilityBin(double Low, double High, int Count, double MeanConfidence, double Accuracy);

/// <summary>How a model did on a labelled set.</summary>
internal sealed record EvaluationReport(
    int Count, int TruePositives, int FalsePositives, int TrueNegatives, int FalseNegatives, double LogLoss,
    double ExpectedCalibrationError, IReadOnlyList<ReliabilityBin> Reliability,
    IReadOnlyList<(string Language, int Count, int Correct)> ByLanguage,
    IReadOnlyList<(LabeledPrompt Prompt, Classification Decision)> Errors)
{
    public double Accuracy => (TruePositives + TrueNegatives) / (double)Count;

    public double CodePrecision => Ratio(TruePositives, TruePositives + FalsePositives);

    public double CodeRecall => Ratio(TruePositives, TruePositives + FalseNegatives);

    public double GeneralPrecision => Ratio(TrueNegatives, TrueNegatives + FalseNegatives);

    public double GeneralRecall => Ratio(TrueNegatives, TrueNegatives + FalsePositives);

    private static double Ratio(int a, int b) => b == 0 ? 0 : a / (double)b;
}

/// <summary>Accuracy, per-class precision and recall, calibration (reliability table, ECE, log loss) of a model on a set.</summary>
internal static class Evaluation
{
    private static readonly double[] BinEdges = [0.5, 0.6, 0.7, 0.8, 0.9, 0.95, 1.0];

    public static EvaluationReport Evaluate(TaskClassifier classifier, IReadOnlyList<LabeledPrompt> prompts)
    {
        int tp = 0, fp = 0, tn = 0, fn = 0;
        var logLoss = 0.0;
        var errors = new List<(LabeledPrompt, Classification)>();
        var bins = new (int Count, double Confidence, int Correct)[BinEdges.Length - 1];
        var languages = new SortedDictionary<string, (int Count, int Correct)>(StringComparer.Ordinal);
        foreach (var prompt in prompts)
        {
            var (system, user) = prompt.Text;
            var decision = classifier.Classify(system, user);
            var right = decision.IsCode == prompt.IsCode;
            (tp, fp, tn, fn) = (decision.IsCode, prompt.IsCode) switch
            {
                (true, true) => (tp + 1, fp, tn, fn),
                (true, false) => (tp, fp + 1, tn, fn),
                (false, false) => (tp, fp, tn + 1, fn),
                (false, true) => (tp, fp, tn, fn + 1),
            };
            var p = Math.Clamp(prompt.IsCode ? decision.CodeProbability : 1 - decision.CodeProbability, 1e-12, 1);
            logLoss -= Math.Log(p);
            var bin = Array.FindIndex(BinEdges, 1, e => decision.Confidence < e || e == 1.0) - 1;
            bins[bin] = (bins[bin].Count + 1, bins[bin].Confidence + decision.Confidence, bins[bin].Correct + (right ? 1 : 0));
            var language = languages.GetValueOrDefault(prompt.Language);
            languages[prompt.Language] = (language.Count + 1, language.Correct + (right ? 1 : 0));
            if (!right)
            {
                errors.Add((prompt, decision));
            }
        }

        var reliability = bins.Select((b, i) => new ReliabilityBin(
            BinEdges[i], BinEdges[i + 1], b.Count, b.Count == 0 ? 0 : b.Confidence / b.Count, b.Count == 0 ? 0 : b.Correct / (double)b.Count)).ToList();
        var ece = reliability.Sum(b => b.Count * Math.Abs(b.MeanConfidence - b.Accuracy)) / prompts.Count;
        return new EvaluationReport(prompts.Count, tp, fp, tn, fn, logLoss / prompts.Count, ece, reliability,
            languages.Select(l => (l.Key, l.Value.Count, l.Value.Correct)).ToList(), errors);
    }

    public static string Format(string title, EvaluationReport r, bool listErrors)
    {
        var s = new StringBuilder();
        var c = CultureInfo.InvariantCulture;
        s.AppendLine(c, $"{title}: {r.Count} prompts, accuracy {r.Accuracy:P1} ({r.TruePositives + r.TrueNegatives}/{r.Count}), log loss {r.LogLoss:F3}, ECE {r.ExpectedCalibrationError:F3}");
        s.AppendLine(c, $"  code:    precision {r.CodePrecision:P1}  recall {r.CodeRecall:P1}   (true code {r.TruePositives + r.FalseNegatives}, predicted code {r.TruePositives + r.FalsePositives})");
        s.AppendLine(c, $"  general: precision {r.GeneralPrecision:P1}  recall {r.GeneralRecall:P1}   (true general {r.TrueNegatives + r.FalsePositives}, predicted general {r.TrueNegatives + r.FalseNegatives})");
        s.AppendLine("  reliability: confidence bin | prompts | mean confidence | accuracy");
        foreach (var b in r.Reliability)
        {
            s.AppendLine(c, $"    [{b.Low:F2}, {b.High:F2}{(b.High == 1.0 ? "]" : ")")} | {b.Count,4} | {(b.Count == 0 ? "   -" : b.MeanConfidence.ToString("F3", c))} | {(b.Count == 0 ? "   -" : b.Accuracy.ToString("F3", c))}");
        }

        s.Append("  by language:");
        foreach (var (language, count, correct) in r.ByLanguage)
        {
            s.Append(c, $" {language} {correct}/{count}");
        }

        s.AppendLine();
        if (listErrors)
        {
            foreach (var (prompt, decision) in r.Errors)
            {
                var user = prompt.Text.User.ReplaceLineEndings(" ");
                s.AppendLine(c, $"  miss line {prompt.Line}: label {(prompt.IsCode ? "code" : "general")}, said {(decision.IsCode ? "code" : "general")} at {decision.Confidence:F2}: {user[..Math.Min(90, user.Length)]} [{prompt.Note}]");
            }
        }

        return s.ToString();
    }
}
