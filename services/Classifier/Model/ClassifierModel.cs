using System.Globalization;
using System.Numerics;
using Platform.Classifier.Features;

namespace Platform.Classifier.Model;

/// <summary>
/// A logistic-regression model: one weight per feature name, read from the reviewable weights file
/// (<c>Model/weights.tsv</c>, written by the train command). Words and bigrams are found by hash in an
/// open-addressing table that also carries each lexicon term's concepts, so scoring a token is one probe.
/// Immutable once loaded; safe to share between threads.
/// </summary>
internal sealed class ClassifierModel
{
    /// <summary>Name of the embedded weights file.</summary>
    public const string ResourceName = "Platform.Classifier.weights.tsv";

    private static readonly Lazy<ClassifierModel> DefaultModel = new(LoadEmbedded);

    // One bit per 2^16 hash buckets (8 KiB, stays in the L1 cache): most words and bigrams of a prompt are neither a
    // feature nor a lexicon term, and the filter turns them away without a probe of the larger table.
    private const int FilterBits = 16;

    // The table in two arrays: a probe reads only the hashes (8 bytes a slot), the entry only on a match.
    private readonly ulong[] _hashes;
    private readonly Entry[] _entries;
    private readonly ulong[] _filter = new ulong[(1 << FilterBits) / 64];
    private readonly int _shift;
    private readonly int[] _namedFeature;
    private readonly string[] _names;
    private readonly float[] _weights;

    private ClassifierModel(string[] names, float[] weights, IReadOnlyList<string> header)
    {
        _names = names;
        _weights = weights;
        Header = header;

        _namedFeature = new int[NamedFeatures.Count];
        Array.Fill(_namedFeature, -1);
        var namedIds = new Dictionary<string, int>(StringComparer.Ordinal);
        for (var id = 0; id < NamedFeatures.Count; id++)
        {
            namedIds[NamedFeatures.Names[id]] = id;
        }

        var hashed = new Dictionary<ulong, (int Feature, Concept Concepts)>();
        for (var i = 0; i < names.Length; i++)
        {
            if (namedIds.TryGetValue(names[i], out var id))
            {
                _namedFeature[id] = i;
            }
            else if (!hashed.TryAdd(FeatureHash.Of(names[i]), (i, Concept.None)))
            {
                throw new FormatException($"Feature '{names[i]}' is listed twice or collides with another feature's hash.");
            }
        }

        foreach (var (hash, concepts) in Lexicon.ByHash)
        {
            hashed[hash] = hashed.TryGetValue(hash, out var entry) ? (entry.Feature, entry.Concepts | concepts) : (-1, concepts);
        }

        // Power-of-two table at most half full; Fibonacci hashing spreads FNV's low-entropy bits.
        var bits = Math.Max(4, BitOperations.Log2((uint)hashed.Count) + 2);
        _hashes = new ulong[1 << bits];
        _entries = new Entry[1 << bits];
        _shift = 64 - bits;
        var mask = _hashes.Length - 1;
        foreach (var (hash, (feature, concepts)) in hashed)
        {
            var index = SlotOf(hash);
            while (_hashes[index] != 0)
            {
                index = (index + 1) & mask;
            }

            _hashes[index] = hash;
            _entries[index] = new Entry(feature, concepts);
            var bit = FilterBitOf(hash);
            _filter[bit >> 6] |= 1UL << bit;
        }
    }

    /// <summary>The model shipped in this assembly.</summary>
    public static ClassifierModel Default => DefaultModel.Value;

    /// <summary>Feature names, by feature index.</summary>
    public IReadOnlyList<string> Names => _names;

    /// <summary>The comment lines at the top of the weights file (how it was trained, on what).</summary>
    public IReadOnlyList<string> Header { get; }

    public int FeatureCount => _names.Length;

    /// <summary>Weight (log-odds towards code) of a feature.</summary>
    public float Weight(int feature) => _weights[feature];

    public string Name(int feature) => _names[feature];

    /// <summary>Feature index of a named feature; -1 when the model gives it no weight.</summary>
    public int NamedFeatureIndex(int id) => _namedFeature[id];

    /// <summary>Feature index (or -1) and lexicon concepts of a word or bigram hash.</summary>
    public (int Feature, Concept Concepts) Find(ulong hash)
    {
        var bit = FilterBitOf(hash);
        if ((_filter[bit >> 6] & (1UL << bit)) == 0)
        {
            return (-1, Concept.None);
        }

        var hashes = _hashes;
        var mask = hashes.Length - 1;
        var index = SlotOf(hash);
        while (true)
        {
            var slot = hashes[index];
            if (slot == hash)
            {
                var entry = _entries[index];
                return (entry.Feature, entry.Concepts);
            }

            if (slot == 0)
            {
                return (-1, Concept.None);
            }

            index = (index + 1) & mask;
        }
    }

    /// <summary>Reads a weights file: '#' comment lines, then one "weight TAB feature name" per line.</summary>
    public static ClassifierModel Parse(TextReader reader)
    {
        var names = new List<string>();
        var weights = new List<float>();
        var header = new List<string>();
        var lineNumber = 0;
        while (reader.ReadLine() is { } line)
        {
            lineNumber++;
            if (line.Length == 0)
            {
                continue;
            }

            if (line[0] == '#')
            {
                header.Add(line[1..].Trim());
                continue;
            }

            var tab = line.IndexOf('\t', StringComparison.Ordinal);
            if (tab <= 0 || tab == line.Length - 1
                || !float.TryParse(line.AsSpan(0, tab), NumberStyles.Float, CultureInfo.InvariantCulture, out var weight)
                || !float.IsFinite(weight))
            {
                throw new FormatException($"weights line {lineNumber}: expected 'weight<TAB>feature', got '{line}'.");
            }

            names.Add(line[(tab + 1)..]);
            weights.Add(weight);
        }

        return new ClassifierModel([.. names], [.. weights], header);
    }

    public static ClassifierModel LoadEmbedded()
    {
        using var stream = typeof(ClassifierModel).Assembly.GetManifestResourceStream(ResourceName)
            ?? throw new InvalidOperationException($"The assembly holds no '{ResourceName}' resource.");
        using var reader = new StreamReader(stream);
        return Parse(reader);
    }

    private int SlotOf(ulong hash) => (int)((hash * 0x9E3779B97F4A7C15UL) >> _shift);

    // A multiplier other than the table's, so the filter's bits and the slot index are independent.
    private static int FilterBitOf(ulong hash) => (int)((hash * 0xD6E8FEB86659FD93UL) >> (64 - FilterBits));

    private readonly record struct Entry(int Feature, Concept Concepts);
}
