using System.Globalization;
using System.Text;
using Platform.Classifier.Features;

namespace Platform.Classifier.Training;

/// <summary>Settings of a training run; the defaults are what the checked-in model was trained with.</summary>
internal sealed record TrainingOptions
{
    /// <summary>A word or bigram becomes a feature when it appears in at least this many training prompts.</summary>
    public int MinCount { get; init; } = 2;

    /// <summary>Folds of the cross-validation that picks the L2 strength and fits the temperature.</summary>
    public int Folds { get; init; } = 5;

    /// <summary>Candidate L2 strengths (on the mean log loss) of the word and bigram features: many, sparse, easy to overfit.</summary>
    public IReadOnlyList<double> WordL2Candidates { get; init; } = [0.001, 0.003, 0.01];

    /// <summary>Candidate L2 strengths of the named features (layout, concepts): few, dense, shared by many prompts.</summary>
    public IReadOnlyList<double> NamedL2Candidates { get; init; } = [0.0001, 0.0003, 0.001];

    /// <summary>Iterations of accelerated gradient descent per fit.</summary>
    public int Iterations { get; init; } = 1500;
}

/// <summary>What training chose and measured on the training set alone.</summary>
internal sealed record TrainingResult(
    string WeightsFile, int Prompts, int CodePrompts, int Features, double WordL2, double NamedL2, double Temperature,
    double CrossValidationAccuracy, double CrossValidationLogLoss, IReadOnlyList<(LabeledPrompt Prompt, double CodeProbability)> CrossValidationMisses);

/// <summary>
/// L2-regularised logistic regression over the features of <see cref="FeatureExtractor"/>, trained by full-batch
/// accelerated gradient descent: no randomness, a fixed order, so the same data gives the same file byte for byte.
/// The L2 strengths (one for words, one for named features) are chosen by k-fold cross-validation on the training set, and a temperature fitted on the
/// out-of-fold predictions is divided into every weight, so the logistic output is a calibrated probability. The dev
/// set plays no part.
/// </summary>
internal static class Trainer
{
    public static TrainingResult Train(IReadOnlyList<LabeledPrompt> prompts, TrainingOptions? options = null)
    {
        options ??= new TrainingOptions();
        var named = new HashSet<string>(NamedFeatures.Names, StringComparer.Ordinal);
        var sets = prompts.Select(p => NamingSink.Of(p.Text.System, p.Text.User)).ToList();

        var counts = new Dictionary<string, int>(StringComparer.Ordinal);
        foreach (var name in sets.SelectMany(s => s))
        {
            counts[name] = counts.GetValueOrDefault(name) + 1;
        }

        var vocabulary = counts.Where(c => c.Value >= options.MinCount || named.Contains(c.Key))
            .Select(c => c.Key).Order(StringComparer.Ordinal).ToArray();
        var index = new Dictionary<string, int>(StringComparer.Ordinal);
        for (var i = 0; i < vocabulary.Length; i++)
        {
            index[vocabulary[i]] = i;
        }

        var rows = sets.Select(s => s.Where(index.ContainsKey).Select(n => index[n]).Order().ToArray()).ToArray();
        var labels = prompts.Select(p => p.IsCode).ToArray();

        // Cross-validation on the training set: the pair of L2 strengths with the lowest out-of-fold log loss.
        var best = (L2: Array.Empty<double>(), WordL2: 0.0, NamedL2: 0.0, LogLoss: double.MaxValue, Accuracy: 0.0, Logits: Array.Empty<double>());
        foreach (var wordL2 in options.WordL2Candidates)
        {
            foreach (var namedL2 in options.NamedL2Candidates)
            {
                var l2 = vocabulary.Select(name => name == NamedFeatures.Names[NamedFeatures.Bias] ? 0 : named.Contains(name) ? namedL2 : wordL2).ToArray();
                var logits = new double[rows.Length];
                for (var fold = 0; fold < options.Folds; fold++)
                {
                    var trainRows = Enumerable.Range(0, rows.Length).Where(i => i % options.Folds != fold).ToArray();
                    var w = Fit(rows, labels, trainRows, l2, options.Iterations);
                    for (var i = fold; i < rows.Length; i += options.Folds)
                    {
                        logits[i] = Dot(w, rows[i]);
                    }
                }

                var logLoss = LogLoss(logits, labels, 1.0);
                if (logLoss < best.LogLoss - 1e-9)
                {
                    var accuracy = logits.Select((z, i) => z >= 0 == labels[i]).Count(ok => ok) / (double)rows.Length;
                    best = (l2, wordL2, namedL2, logLoss, accuracy, logits);
                }
            }
        }

        var temperature = FitTemperature(best.Logits, labels);
        var weights = Fit(rows, labels, Enumerable.Range(0, rows.Length).ToArray(), best.L2, options.Iterations);
        var code = labels.Count(l => l);
        var file = Write(vocabulary, weights, temperature, new StringBuilder()
            .AppendLine(CultureInfo.InvariantCulture, $"trained on {prompts.Count} prompts of data/{Dataset.TrainFile} ({code} code, {prompts.Count - code} general); the dev set played no part")
            .AppendLine(CultureInfo.InvariantCulture, $"features: words and bigrams found in at least {options.MinCount} training prompts, plus the layout and lexicon features of Features/")
            .AppendLine(CultureInfo.InvariantCulture, $"l2: {best.WordL2} on words and bigrams, {best.NamedL2} on named features, chosen by {options.Folds}-fold cross-validation on the training set: accuracy {best.Accuracy:F4}, log loss {best.LogLoss:F4}")
            .AppendLine(CultureInfo.InvariantCulture, $"temperature: {temperature:F2} fitted on the out-of-fold predictions and divided into every weight")
            .ToString());
        var misses = best.Logits.Select((z, i) => (Prompt: prompts[i], CodeProbability: Sigmoid(z / temperature)))
            .Where(m => m.CodeProbability >= 0.5 != m.Prompt.IsCode).ToList();
        return new TrainingResult(file, prompts.Count, code, vocabulary.Length, best.WordL2, best.NamedL2, temperature, best.Accuracy, best.LogLoss, misses);
    }

    /// <summary>Minimises mean log loss + sum of l2[f]/2 w[f]^2 with Nesterov's accelerated gradient.</summary>
    private static double[] Fit(int[][] rows, bool[] labels, int[] subset, double[] l2, int iterations)
    {
        var dimensions = l2.Length;
        var w = new double[dimensions];
        var lookahead = new double[dimensions];
        var gradient = new double[dimensions];
        var maxActive = subset.Max(i => rows[i].Length);
        var step = 1.0 / ((maxActive / 4.0) + l2.Max());
        var n = (double)subset.Length;
        for (var t = 1; t <= iterations; t++)
        {
            Array.Clear(gradient);
            foreach (var i in subset)
            {
                var error = Sigmoid(Dot(lookahead, rows[i])) - (labels[i] ? 1.0 : 0.0);
                foreach (var f in rows[i])
                {
                    gradient[f] += error / n;
                }
            }

            var momentum = (t - 1.0) / (t + 2.0);
            for (var f = 0; f < dimensions; f++)
            {
                var g = gradient[f] + (l2[f] * lookahead[f]);
                var next = lookahead[f] - (step * g);
                lookahead[f] = next + (momentum * (next - w[f]));
                w[f] = next;
            }
        }

        return w;
    }

    /// <summary>The temperature T (0.25 to 4, in steps of 0.01) that minimises the log loss of sigmoid(z / T).</summary>
    private static double FitTemperature(double[] logits, bool[] labels)
    {
        var best = (T: 1.0, Loss: double.MaxValue);
        for (var k = 25; k <= 400; k++)
        {
            var t = k / 100.0;
            var loss = LogLoss(logits, labels, t);
            if (loss < best.Loss - 1e-12)
            {
                best = (t, loss);
            }
        }

        return best.T;
    }

    private static double LogLoss(double[] logits, bool[] labels, double temperature)
    {
        var sum = 0.0;
        for (var i = 0; i < logits.Length; i++)
        {
            // log(1 + e^-m) with m the margin of the right label, stable for large |m|.
            var margin = (labels[i] ? logits[i] : -logits[i]) / temperature;
            sum += margin > 0 ? Math.Log(1 + Math.Exp(-margin)) : -margin + Math.Log(1 + Math.Exp(margin));
        }

        return sum / logits.Length;
    }

    private static double Dot(double[] w, int[] row)
    {
        var z = 0.0;
        foreach (var f in row)
        {
            z += w[f];
        }

        return z;
    }

    private static double Sigmoid(double z) => z >= 0 ? 1 / (1 + Math.Exp(-z)) : Math.Exp(z) / (1 + Math.Exp(z));

    private static string Write(string[] vocabulary, double[] weights, double temperature, string header)
    {
        var text = new StringBuilder();
        text.AppendLine("# Platform.Classifier weights: logistic regression; log-odds of code = sum of the weights of the features present.");
        text.AppendLine("# Written by `dotnet run --project services/Classifier -- train`; do not edit by hand.");
        foreach (var line in header.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            text.Append("# ").AppendLine(line);
        }

        text.AppendLine("# weight<TAB>feature, strongest towards code first (w: word, b: bigram, s: layout, lex: concepts, see Features/).");
        var rows = vocabulary.Select((name, i) => (Name: name, Weight: Math.Round(weights[i] / temperature, 4, MidpointRounding.ToEven)))
            .Where(r => r.Weight != 0)
            .OrderByDescending(r => r.Weight)
            .ThenBy(r => r.Name, StringComparer.Ordinal);
        foreach (var (name, weight) in rows)
        {
            text.Append(weight.ToString("+0.0000;-0.0000", CultureInfo.InvariantCulture)).Append('\t').AppendLine(name);
        }

        return text.ToString().ReplaceLineEndings("\n");
    }
}
