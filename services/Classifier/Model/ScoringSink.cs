using Platform.Classifier.Features;

namespace Platform.Classifier.Model;

/// <summary>
/// Adds up the weights of the features of one prompt, each feature once (features are present or absent, not
/// counted), and remembers which fired so the strongest can be reported. Uses a per-thread scratch, so a call
/// allocates nothing.
/// </summary>
internal struct ScoringSink : IFeatureSink
{
    private readonly ClassifierModel _model;
    private readonly Scratch _scratch;
    private readonly int _generation;

    public ScoringSink(ClassifierModel model)
    {
        _model = model;
        _scratch = Scratch.For(model);
        _generation = _scratch.NextGeneration();
        Score = 0;
    }

    /// <summary>Sum of the weights of the features present (log-odds of code).</summary>
    public double Score { get; private set; }

    /// <summary>Feature indices that fired, in the order they were first seen.</summary>
    public readonly ReadOnlySpan<int> Fired => _scratch.Fired.AsSpan(0, _scratch.FiredCount);

    public Concept Word(ulong hash, ReadOnlySpan<char> word)
    {
        var (feature, concepts) = _model.Find(hash);
        if (feature >= 0)
        {
            Fire(feature);
        }

        return concepts;
    }

    public Concept Bigram(ulong hash, ReadOnlySpan<char> first, ReadOnlySpan<char> second) => Word(hash, default);

    public void Named(int id)
    {
        var feature = _model.NamedFeatureIndex(id);
        if (feature >= 0)
        {
            Fire(feature);
        }
    }

    private void Fire(int feature)
    {
        ref var stamp = ref _scratch.Stamps[feature];
        if (stamp != _generation)
        {
            stamp = _generation;
            _scratch.Fired[_scratch.FiredCount++] = feature;
            Score += _model.Weight(feature);
        }
    }

    /// <summary>Per-thread buffers sized to the model: a generation stamp per feature and the list of fired features.</summary>
    private sealed class Scratch
    {
        [ThreadStatic]
        private static Scratch? t_current;

        private int _generation;

        private Scratch(ClassifierModel model)
        {
            Model = model;
            Stamps = new int[model.FeatureCount];
            Fired = new int[model.FeatureCount];
        }

        public ClassifierModel Model { get; }

        public int[] Stamps { get; }

        public int[] Fired { get; }

        public int FiredCount { get; set; }

        public static Scratch For(ClassifierModel model)
        {
            var scratch = t_current;
            if (scratch is null || !ReferenceEquals(scratch.Model, model))
            {
                scratch = t_current = new Scratch(model);
            }

            return scratch;
        }

        public int NextGeneration()
        {
            FiredCount = 0;
            if (++_generation == int.MaxValue)
            {
                Array.Clear(Stamps);
                _generation = 1;
            }

            return _generation;
        }
    }
}
