using System.Globalization;

namespace Platform.Gateway.Health;

/// <summary>The three vLLM gauges routing needs, from one scrape.</summary>
/// <param name="Running">vllm:num_requests_running, summed over <c>engine</c> labels.</param>
/// <param name="Waiting">vllm:num_requests_waiting, summed.</param>
/// <param name="KvCacheUsage">vllm:kv_cache_usage_perc (or the older vllm:gpu_cache_usage_perc): the highest over
/// <c>engine</c> labels (a sum of fractions means nothing; the fullest rank is what preempts). NaN when absent.</param>
internal readonly record struct EngineMetrics(double Running, double Waiting, double KvCacheUsage, bool HasRunning, bool HasWaiting);

/// <summary>
/// A small line reader for the Prometheus text exposition, for exactly the gauges above: exact metric names (so
/// <c>_created</c>, <c>_total</c> and other series never match), labels skipped with quoting and escapes honoured,
/// NaN values ignored, malformed lines skipped. Works on the UTF-8 bytes; allocates nothing.
/// </summary>
internal static class EngineMetricsReader
{
    public static EngineMetrics Read(ReadOnlySpan<byte> text)
    {
        double running = 0, waiting = 0, kv = double.NaN, kvOld = double.NaN;
        bool hasRunning = false, hasWaiting = false;
        while (!text.IsEmpty)
        {
            var newline = text.IndexOf((byte)'\n');
            var line = newline < 0 ? text : text[..newline];
            text = newline < 0 ? default : text[(newline + 1)..];
            if (!TryParseLine(line, out var name, out var value) || double.IsNaN(value))
            {
                continue;
            }

            if (name.SequenceEqual("vllm:num_requests_running"u8))
            {
                running += value;
                hasRunning = true;
            }
            else if (name.SequenceEqual("vllm:num_requests_waiting"u8))
            {
                waiting += value;
                hasWaiting = true;
            }
            else if (name.SequenceEqual("vllm:kv_cache_usage_perc"u8))
            {
                kv = double.IsNaN(kv) ? value : Math.Max(kv, value);
            }
            else if (name.SequenceEqual("vllm:gpu_cache_usage_perc"u8))
            {
                kvOld = double.IsNaN(kvOld) ? value : Math.Max(kvOld, value);
            }
        }

        return new EngineMetrics(running, waiting, double.IsNaN(kv) ? kvOld : kv, hasRunning, hasWaiting);
    }

    /// <summary>Splits "name{labels} value [timestamp]"; false for comments, blanks and malformed lines.</summary>
    internal static bool TryParseLine(ReadOnlySpan<byte> line, out ReadOnlySpan<byte> name, out double value)
    {
        name = default;
        value = double.NaN;
        line = line.TrimEnd((byte)'\r').Trim((byte)' ');
        if (line.IsEmpty || line[0] == (byte)'#')
        {
            return false;
        }

        var end = line.IndexOfAny((byte)'{', (byte)' ', (byte)'\t');
        if (end <= 0)
        {
            return false;
        }

        name = line[..end];
        var rest = line[end..];
        if (rest[0] == (byte)'{')
        {
            var close = LabelsEnd(rest);
            if (close < 0)
            {
                return false;
            }

            rest = rest[(close + 1)..];
        }

        rest = rest.TrimStart((byte)' ').TrimStart((byte)'\t');
        var space = rest.IndexOfAny((byte)' ', (byte)'\t');
        var number = space < 0 ? rest : rest[..space];
        return TryParseValue(number, out value);
    }

    private static int LabelsEnd(ReadOnlySpan<byte> rest)
    {
        var quoted = false;
        for (var i = 1; i < rest.Length; i++)
        {
            var c = rest[i];
            if (quoted)
            {
                if (c == (byte)'\\')
                {
                    i++;
                }
                else if (c == (byte)'"')
                {
                    quoted = false;
                }
            }
            else if (c == (byte)'"')
            {
                quoted = true;
            }
            else if (c == (byte)'}')
            {
                return i;
            }
        }

        return -1;
    }

    private static bool TryParseValue(ReadOnlySpan<byte> number, out double value)
    {
        if (number.SequenceEqual("NaN"u8))
        {
            value = double.NaN;
            return true;
        }

        if (number.SequenceEqual("+Inf"u8))
        {
            value = double.PositiveInfinity;
            return true;
        }

        if (number.SequenceEqual("-Inf"u8))
        {
            value = double.NegativeInfinity;
            return true;
        }

        return double.TryParse(number, NumberStyles.Float, CultureInfo.InvariantCulture, out value);
    }
}
