using System.Globalization;
using Microsoft.Extensions.Options;

namespace Platform.Watchdog.Detection;

/// <summary>
/// KV-cache drift, the "phantom OOM": usable KV capacity shrinks while the load does not explain it. Judged over
/// <see cref="KvDriftDetectorOptions.Window"/>, and only once the history covers the whole window; any of three rules:
/// <list type="number">
/// <item><b>shrinking</b>: KV usage rose by at least <c>MinRise</c> over the window while running requests did not rise;</item>
/// <item><b>leaked</b>: KV usage stayed at least <c>IdleUsage</c> at every observation while nothing ran or waited
/// (vLLM counts blocks of finished requests as free, so an idle engine should read near 0);</item>
/// <item><b>choking</b>: KV usage stayed at least <c>HighUsage</c> at every observation, requests are waiting, and generated
/// tokens/s fell by at least <c>ThroughputDrop</c> from the window's best.</item>
/// </list>
/// Observations with an unknown KV usage (NaN) make the window undecidable: no detection.
/// </summary>
internal sealed class KvDriftDetector(IOptions<KvDriftDetectorOptions> options) : IDegradationDetector
{
    public const string DetectorName = "kv_drift";

    private readonly KvDriftDetectorOptions _options = options.Value;

    public string Name => DetectorName;

    public bool Enabled => _options.Enabled;

    public TimeSpan Window => _options.Window;

    public Detection? Evaluate(EngineHistory history, DateTimeOffset now)
    {
        if (history.Window(now, _options.Window) is not { Count: >= 2 } window)
        {
            return null;
        }

        var minKv = double.MaxValue;
        var idle = true;
        var bestTokens = double.NaN;
        foreach (var o in window)
        {
            if (!o.Reachable || double.IsNaN(o.KvCacheUsage))
            {
                return null;
            }

            minKv = Math.Min(minKv, o.KvCacheUsage);
            idle &= o.Running == 0 && o.Waiting == 0;
            if (!double.IsNaN(o.GenerationTokensPerSecond) && !(o.GenerationTokensPerSecond <= bestTokens))
            {
                bestTokens = o.GenerationTokensPerSecond;
            }
        }

        var first = window[0];
        var last = window[^1];
        var seconds = (last.At - first.At).TotalSeconds;
        var rise = last.KvCacheUsage - first.KvCacheUsage;
        if (rise >= _options.MinRise && !(last.Running > first.Running))
        {
            return Found($"shrinking: KV usage {first.KvCacheUsage:0.00} -> {last.KvCacheUsage:0.00} (+{rise:0.00}, threshold {_options.MinRise:0.00}) over {seconds:0} s while running went {first.Running:0} -> {last.Running:0}");
        }

        if (idle && minKv >= _options.IdleUsage)
        {
            return Found($"leaked: KV usage at least {minKv:0.00} (threshold {_options.IdleUsage:0.00}) for {seconds:0} s with nothing running or waiting");
        }

        if (minKv >= _options.HighUsage && last.Waiting > 0 && bestTokens > 0
            && last.GenerationTokensPerSecond <= bestTokens * (1 - _options.ThroughputDrop))
        {
            return Found($"choking: KV usage at least {minKv:0.00} (threshold {_options.HighUsage:0.00}) for {seconds:0} s, {last.Waiting:0} waiting, generation {bestTokens:0.#} -> {last.GenerationTokensPerSecond:0.#} tokens/s (drop threshold {_options.ThroughputDrop:P0})");
        }

        return null;
    }

    private Detection Found(FormattableString reason) => new(Name, reason.ToString(CultureInfo.InvariantCulture));
}
