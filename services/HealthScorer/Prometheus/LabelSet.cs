using System.Text;

namespace Platform.HealthScorer.Prometheus;

/// <summary>
/// The labels of a sample: the validated text between the braces, read on demand (no allocation). Values stay
/// escaped until asked for; <see cref="LabelValue"/> compares and unescapes them.
/// </summary>
internal readonly ref struct LabelSet
{
    private readonly ReadOnlySpan<byte> _text;

    /// <summary>Only for text the reader validated (name="value" pairs, commas, optional trailing comma, blanks).</summary>
    internal LabelSet(ReadOnlySpan<byte> text) => _text = text;

    public bool IsEmpty => Trim(_text).IsEmpty;

    public Enumerator GetEnumerator() => new(_text);

    /// <summary>The value of the label called <paramref name="name"/> (names never have escapes).</summary>
    public bool TryGetValue(ReadOnlySpan<byte> name, out LabelValue value)
    {
        foreach (var label in this)
        {
            if (label.Name.SequenceEqual(name))
            {
                value = label.Value;
                return true;
            }
        }

        value = default;
        return false;
    }

    public int Count()
    {
        var count = 0;
        foreach (var _ in this)
        {
            count++;
        }

        return count;
    }

    private static ReadOnlySpan<byte> Trim(ReadOnlySpan<byte> s) => s.Trim(" \t"u8);

    internal ref struct Enumerator
    {
        private ReadOnlySpan<byte> _rest;

        internal Enumerator(ReadOnlySpan<byte> text)
        {
            _rest = text;
            Current = default;
        }

        public Label Current { get; private set; }

        public bool MoveNext()
        {
            var rest = Trim(_rest);
            if (!rest.IsEmpty && rest[0] == (byte)',')
            {
                rest = Trim(rest[1..]);
            }

            if (rest.IsEmpty)
            {
                _rest = default;
                return false;
            }

            var eq = rest.IndexOf((byte)'=');
            var name = Trim(rest[..eq]);
            rest = Trim(rest[(eq + 1)..]);

            // rest[0] is the opening quote; find the closing one, skipping escaped characters.
            var escapes = false;
            var i = 1;
            while (true)
            {
                var next = rest[i..].IndexOfAny((byte)'"', (byte)'\\');
                i += next;
                if (rest[i] == (byte)'"')
                {
                    break;
                }

                escapes = true;
                i += 2;
            }

            Current = new Label(name, new LabelValue(rest[1..i], escapes));
            _rest = rest[(i + 1)..];
            return true;
        }
    }
}

/// <summary>One label: its name and its (escaped) value.</summary>
internal readonly ref struct Label(ReadOnlySpan<byte> name, LabelValue value)
{
    public ReadOnlySpan<byte> Name { get; } = name;

    public LabelValue Value { get; } = value;
}

/// <summary>
/// A label value as written: <c>\\</c>, <c>\"</c> and <c>\n</c> are escapes (any other backslash pair is kept as
/// written, as Prometheus does).
/// </summary>
internal readonly ref struct LabelValue(ReadOnlySpan<byte> escaped, bool hasEscapes)
{
    public ReadOnlySpan<byte> Escaped { get; } = escaped;

    public bool HasEscapes { get; } = hasEscapes;

    /// <summary>Writes the unescaped value; false when <paramref name="destination"/> is too small.</summary>
    public bool TryUnescape(Span<byte> destination, out int written)
    {
        written = 0;
        if (!HasEscapes)
        {
            if (!Escaped.TryCopyTo(destination))
            {
                return false;
            }

            written = Escaped.Length;
            return true;
        }

        var s = Escaped;
        for (var i = 0; i < s.Length; i++)
        {
            if (written >= destination.Length)
            {
                return false;
            }

            var c = s[i];
            if (c == (byte)'\\' && i + 1 < s.Length)
            {
                var e = s[++i];
                switch (e)
                {
                    case (byte)'\\':
                    case (byte)'"':
                        destination[written++] = e;
                        continue;
                    case (byte)'n':
                        destination[written++] = (byte)'\n';
                        continue;
                    default:
                        destination[written++] = c;
                        if (written >= destination.Length)
                        {
                            return false;
                        }

                        destination[written++] = e;
                        continue;
                }
            }

            destination[written++] = c;
        }

        return true;
    }

    /// <summary>True when the unescaped value is exactly <paramref name="unescaped"/>.</summary>
    public bool ValueEquals(ReadOnlySpan<byte> unescaped)
    {
        if (!HasEscapes)
        {
            return Escaped.SequenceEqual(unescaped);
        }

        Span<byte> buffer = stackalloc byte[256];
        return Escaped.Length <= buffer.Length
            ? TryUnescape(buffer, out var n) && buffer[..n].SequenceEqual(unescaped)
            : ToString() == Encoding.UTF8.GetString(unescaped);
    }

    /// <summary>The unescaped value as a string (allocates: for tests, logs and rare paths).</summary>
    public override string ToString()
    {
        var buffer = new byte[Escaped.Length];
        TryUnescape(buffer, out var n);
        return Encoding.UTF8.GetString(buffer, 0, n);
    }
}
