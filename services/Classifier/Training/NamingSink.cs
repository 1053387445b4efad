using Platform.Classifier.Features;

namespace Platform.Classifier.Training;

/// <summary>Collects the names of the features of a prompt (a set: a feature is present or absent), for training.</summary>
internal readonly struct NamingSink(HashSet<string> names) : IFeatureSink
{
    public static HashSet<string> Of(string system, string user)
    {
        var sink = new NamingSink(new HashSet<string>(StringComparer.Ordinal));
        FeatureExtractor.Extract(PromptText.Window(system), PromptText.Window(user), ref sink);
        return sink.Names;
    }

    public HashSet<string> Names { get; } = names;

    public Concept Word(ulong hash, ReadOnlySpan<char> word)
    {
        Names.Add(string.Concat("w:", word));
        return Lexicon.ByHash.GetValueOrDefault(hash);
    }

    public Concept Bigram(ulong hash, ReadOnlySpan<char> first, ReadOnlySpan<char> second)
    {
        Names.Add(string.Concat("b:", first, " ", second));
        return Lexicon.ByHash.GetValueOrDefault(hash);
    }

    public void Named(int id) => Names.Add(NamedFeatures.Names[id]);
}
