using System.Collections.Concurrent;
using System.Diagnostics;
using Platform.FaultSuite.Drills;

namespace Platform.FaultSuite.Tests.Support;

/// <summary>One request of the background traffic: the phase it started in, its prompt kind, how it ended.</summary>
internal readonly record struct TrafficResult(string Phase, bool Code, ChatResult Result);

/// <summary>
/// Steady traffic through the gateway while a fault is injected: a few workers, each sending short streams one after
/// another, prompts alternating code and general. Every result is tagged with the phase it started in.
/// </summary>
internal sealed class Traffic : IAsyncDisposable
{
    private readonly ConcurrentQueue<TrafficResult> _results = new();
    private readonly CancellationTokenSource _stop = new();
    private readonly HttpClient _http = GatewayChat.CreateClient();
    private readonly Task[] _workers;
    private volatile string _phase;

    public Traffic(PlatformProcess platform, int workers, int maxTokens, string phase)
    {
        _phase = phase;
        _workers = Enumerable.Range(0, workers).Select(w => Task.Run(async () =>
        {
            for (var i = 0; !_stop.IsCancellationRequested; i++)
            {
                var code = (w + i) % 2 == 1;
                var phaseAtStart = _phase;
                var prompt = (code ? GatewayChat.CodePrompt : GatewayChat.GeneralPrompt) + $" (worker {w}, #{i})";
                // The traffic's own stop is not a client cancellation of a request: a request in flight is let finish.
                var result = await GatewayChat.StreamAsync(_http, platform.Gateway, platform.ApiKey, prompt, maxTokens, CancellationToken.None);
                _results.Enqueue(new TrafficResult(phaseAtStart, code, result));
            }
        })).ToArray();
    }

    public string Phase
    {
        get => _phase;
        set => _phase = value;
    }

    public IReadOnlyList<TrafficResult> Results => [.. _results];

    public IEnumerable<TrafficResult> In(string phase) => _results.Where(r => r.Phase == phase);

    /// <summary>Waits until <paramref name="count"/> requests that started in the current phase have ended.</summary>
    public Task<TimeSpan> WaitForAsync(int count, TimeSpan timeout, CancellationToken ct)
    {
        var phase = _phase;
        return Wait.UntilAsync(() => Task.FromResult(In(phase).Count() >= count), timeout, $"{count} requests in phase '{phase}'", ct);
    }

    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync();
        await Task.WhenAll(_workers);
        _stop.Dispose();
        _http.Dispose();
    }

    /// <summary>"n requests, k failed; TTFT p50 / p99 / max" for a phase.</summary>
    public string Describe(string phase)
    {
        var results = In(phase).ToList();
        var ok = results.Where(r => r.Result.Ok).Select(r => r.Result.TtftMs).ToList();
        return $"{phase}: {results.Count} requests, {results.Count(r => !r.Result.Ok)} failed; TTFT p50 {GatewayChat.Ms(GatewayChat.Percentile(ok, 0.5))}, "
            + $"p99 {GatewayChat.Ms(GatewayChat.Percentile(ok, 0.99))}, max {GatewayChat.Ms(ok.Count == 0 ? double.NaN : ok.Max())}";
    }

    public static string Failures(IEnumerable<TrafficResult> results) =>
        string.Join(", ", results.Where(r => !r.Result.Ok).GroupBy(r => (r.Phase, r.Result.End, r.Result.Status)).Select(g => $"{g.Key.Phase}: {g.Key.End} {g.Key.Status} x{g.Count()}"));
}
