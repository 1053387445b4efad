using Platform.Classifier.Features;

namespace Platform.Classifier.Model;

/// <summary>The decision for one prompt: code or general, and the calibrated probability that it is code.</summary>
internal readonly record struct Classification(bool IsCode, double CodeProbability)
{
    /// <summary>Probability that the decision is right, in [0.5, 1].</summary>
    public double Confidence => IsCode ? CodeProbability : 1 - CodeProbability;
}

/// <summary>A feature that fired, with its signed weight: positive towards code, negative towards general.</summary>
internal readonly record struct FeatureContribution(int Feature, double Weight);

/// <summary>
/// Code or general for a prompt: features of the bounded prefixes of the system and last user messages
/// (<see cref="FeatureExtractor"/>), summed weights of the model (log-odds), the logistic function for the probability.
/// Thread-safe and allocation-free per call.
/// </summary>
internal sealed class TaskClassifier(ClassifierModel model)
{
    /// <summary>How many features a response reports, strongest first.</summary>
    public const int ReportedFeatures = 8;

    public ClassifierModel Model { get; } = model;

    /// <summary>
    /// Classifies a prompt and writes the strongest features (by absolute weight, the bias left out) into
    /// <paramref name="strongest"/>; <paramref name="written"/> says how many.
    /// </summary>
    public Classification Classify(ReadOnlySpan<char> system, ReadOnlySpan<char> user, Span<FeatureContribution> strongest, out int written)
    {
        var sink = new ScoringSink(Model);
        FeatureExtractor.Extract(PromptText.Window(system), PromptText.Window(user), ref sink);

        var probability = 1.0 / (1.0 + Math.Exp(-sink.Score));
        written = SelectStrongest(sink.Fired, strongest);
        return new Classification(probability >= 0.5, probability);
    }

    /// <summary>Classifies a prompt without reporting features.</summary>
    public Classification Classify(ReadOnlySpan<char> system, ReadOnlySpan<char> user) => Classify(system, user, [], out _);

    /// <summary>The decision with every fired feature's name and weight, strongest first (for tools and tests; allocates).</summary>
    public (Classification Decision, IReadOnlyList<(string Name, double Weight)> Features) Explain(string system, string user)
    {
        var sink = new ScoringSink(Model);
        FeatureExtractor.Extract(PromptText.Window(system), PromptText.Window(user), ref sink);
        var probability = 1.0 / (1.0 + Math.Exp(-sink.Score));
        var features = sink.Fired.ToArray()
            .Select(f => (Model.Name(f), (double)Model.Weight(f)))
            .OrderByDescending(f => Math.Abs(f.Item2))
            .ThenBy(f => f.Item1, StringComparer.Ordinal)
            .ToList();
        return (new Classification(probability >= 0.5, probability), features);
    }

    private int SelectStrongest(ReadOnlySpan<int> fired, Span<FeatureContribution> strongest)
    {
        var bias = Model.NamedFeatureIndex(NamedFeatures.Bias);
        var count = 0;
        foreach (var feature in fired)
        {
            var weight = (double)Model.Weight(feature);
            if (feature == bias || weight == 0 || strongest.IsEmpty)
            {
                continue;
            }

            // Insertion into a short list kept sorted by |weight|, descending.
            var position = count;
            while (position > 0 && Math.Abs(strongest[position - 1].Weight) < Math.Abs(weight))
            {
                position--;
            }

            if (position >= strongest.Length)
            {
                continue;
            }

            var end = Math.Min(count, strongest.Length - 1);
            for (var k = end; k > position; k--)
            {
                strongest[k] = strongest[k - 1];
            }

            strongest[position] = new FeatureContribution(feature, weight);
            count = Math.Min(count + 1, strongest.Length);
        }

        return count;
    }
}
