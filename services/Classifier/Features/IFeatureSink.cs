namespace Platform.Classifier.Features;

/// <summary>
/// Receives the features of a prompt as <see cref="FeatureExtractor"/> finds them (duplicates included). Scoring
/// looks each one up in the model; training records names. A struct, so the extractor's calls are inlined.
/// </summary>
internal interface IFeatureSink
{
    /// <summary>A word ("w:" + <paramref name="word"/>); returns the concepts the word stands for.</summary>
    Concept Word(ulong hash, ReadOnlySpan<char> word);

    /// <summary>Two consecutive words ("b:" + first + " " + second); returns the concepts the pair stands for.</summary>
    Concept Bigram(ulong hash, ReadOnlySpan<char> first, ReadOnlySpan<char> second);

    /// <summary>A feature of <see cref="NamedFeatures"/>.</summary>
    void Named(int id);
}
