using System.Collections.Concurrent;
using System.Diagnostics;
using System.Globalization;
using System.Text;
using Grpc.Core;
using Microsoft.Extensions.DependencyInjection;
using Platform.HealthScorer.Publishing;
using Platform.HealthScorer.Tests.Fixtures;
using StackExchange.Redis;
using HealthV1 = Platform.Health.V1;

namespace Platform.HealthScorer.Tests.EndToEnd;

/// <summary>
/// The whole loop on real processes and sockets: two EngineSim engines (one with a 64-block KV cache), redis-server,
/// the HealthScorer in-process on Kestrel at its default 1 s scrape interval, and the real gateway process following
/// it through services__healthscorer__grpc__0. Load sent straight to the small engine drives it into KV pressure; the
/// gateway stops routing to it, and routes to it again once the load is gone. Every switch time is printed.
/// </summary>
public sealed class PressureEndToEndTests : IAsyncLifetime
{
    private const string Model = "llama-3.1-8b-instruct";
    private const string Small = "enginegeneral-0";
    private const string Big = "enginegeneral-1";
    private static readonly TimeSpan Interval = TimeSpan.FromSeconds(1);

    private RedisServer _redis = null!;
    private EngineSim _small = null!;
    private EngineSim _big = null!;
    private HealthScorerHost _scorer = null!;
    private GatewayProcess _gateway = null!;

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    public async ValueTask InitializeAsync()
    {
        var redis = RedisServer.StartAsync();
        var small = EngineSim.StartAsync(
            Model, "--sim-engine-label", Small, "--num-gpu-blocks-override", "64", "--block-size", "16", "--max-model-len", "1024", "--max-num-seqs", "32");
        var big = EngineSim.StartAsync(Model, "--sim-engine-label", Big);
        _redis = await redis;
        _small = await small;
        _big = await big;

        var configuration = HealthScorerHost.Configuration([_small.BaseUri, _big.BaseUri], _redis.ConnectionString);
        configuration["Fleet:Models:0:Name"] = Model;
        configuration["Fleet:Pools:0:Model"] = Model;
        configuration["HealthScorer:ScrapeInterval"] = Interval.ToString();
        configuration["HealthScorer:ScrapeTimeout"] = "00:00:01";
        configuration["HealthScorer:StaleAfter"] = "00:00:03";
        configuration["HealthScorer:Window"] = "00:00:30";
        configuration["HealthScorer:StallAfter"] = "00:00:05";
        _scorer = await HealthScorerHost.StartAsync(configuration);

        _gateway = await GatewayProcess.StartAsync(new Dictionary<string, string>
        {
            ["Logging__LogLevel__Default"] = "Warning",
            ["ConnectionStrings__redis"] = _redis.ConnectionString,
            ["Fleet__Models__0__Name"] = Model,
            ["Fleet__Pools__0__Name"] = "enginegeneral",
            ["Fleet__Pools__0__Model"] = Model,
            ["Fleet__Pools__0__TaskAffinity"] = "general",
            ["Fleet__Pools__0__MaxModelLen"] = "1024",
            ["services__enginegeneral__http__0"] = _small.BaseUri.AbsoluteUri.TrimEnd('/'),
            ["services__enginegeneral__http__1"] = _big.BaseUri.AbsoluteUri.TrimEnd('/'),
            ["services__healthscorer__grpc__0"] = _scorer.GrpcUri.AbsoluteUri.TrimEnd('/'),

            // Queue-based load bounding would also move requests off the loaded engine: only the HealthScorer's pressure
            // may decide here. Latency-aware routing stays on: the gateway forgets the latency an engine showed under
            // pressure once the pressure clears, so it is not kept out as a latency outlier after it recovered.
            ["Gateway__Routing__BoundedLoadSlack"] = "1000",
        });

        var hub = _scorer.Services.GetRequiredService<FleetSnapshotHub>();
        await Poll.UntilAsync(() => hub.SubscriberCount >= 1, TimeSpan.FromSeconds(30), "the gateway to follow WatchFleet");
    }

    public async ValueTask DisposeAsync()
    {
        foreach (var resource in new IAsyncDisposable?[] { _gateway, _scorer, _small, _big, _redis })
        {
            if (resource is not null)
            {
                await resource.DisposeAsync();
            }
        }
    }

    [Fact]
    public async Task KvPressure_GatewayStopsRoutingToTheEngineAndResumesAfterItRecovers()
    {
        using var gateway = _gateway.CreateClient();
        var clock = Stopwatch.StartNew();
        var probe = await AffinePromptAsync(gateway, Small);

        using var watch = CancellationTokenSource.CreateLinkedTokenSource(Ct);
        var kv = new ConcurrentQueue<(double At, double Usage)>();
        var pressure = new ConcurrentQueue<(double At, HealthV1.PressureState State)>();
        var routed = new ConcurrentQueue<(double At, double Done, string Engine)>();
        var watchers = Task.WhenAll(
            KvPollerAsync(kv, clock, watch.Token),
            ScorerWatcherAsync(pressure, clock, watch.Token),
            ProbeLoopAsync(gateway, probe, routed, clock, watch.Token));

        // Load straight to the small engine: more sequences than its 64 blocks hold.
        using var load = CancellationTokenSource.CreateLinkedTokenSource(Ct);
        var loadStarted = clock.Elapsed.TotalMilliseconds;
        var clients = Enumerable.Range(0, 24).Select(i => LoadClientAsync(i, load.Token)).ToArray();

        string State() => string.Create(CultureInfo.InvariantCulture, $"kv {string.Join(' ', kv.TakeLast(8).Select(k => $"{k.At:F0}:{k.Usage:F2}"))}; scorer {string.Join(' ', pressure.TakeLast(4))}; probes {string.Join(' ', routed.TakeLast(6))}; gateway log: {_gateway.Output[Math.Max(0, _gateway.Output.Length - 2000)..]}");
        await WaitAsync(() => routed.Any(r => r.At > loadStarted && r.Engine == Big), "the gateway to route the probe away", State);
        var switchedAway = clock.Elapsed.TotalMilliseconds;
        await Poll.UntilAsync(() => clock.Elapsed.TotalMilliseconds > switchedAway + 1500, TimeSpan.FromSeconds(5), "pressure to be held");
        Assert.DoesNotContain(routed, r => r.At > switchedAway && r.Engine == Small);
        var entry = await RedisHealthEntryAsync(Small);

        var loadStopped = clock.Elapsed.TotalMilliseconds;
        await load.CancelAsync();
        await Task.WhenAll(clients);
        await WaitAsync(() => routed.Any(r => r.At > loadStopped && r.Engine == Small), "the gateway to route the probe back", State);
        await watch.CancelAsync();
        await watchers;

        var crossed = kv.First(k => k.At > loadStarted && k.Usage > 0.88).At;
        var marked = pressure.First(p => p.At > loadStarted && p.State == HealthV1.PressureState.UnderPressure).At;
        // The gateway decided between a probe's send and its answer: the answer time bounds the switch from above.
        var away = routed.Where(r => r.At > loadStarted && r.Engine == Big).Min(r => r.Done);
        var fell = kv.First(k => k.At > loadStopped && k.Usage < 0.79).At;
        var cleared = pressure.First(p => p.At > loadStopped && p.State == HealthV1.PressureState.Normal).At;
        var back = routed.Where(r => r.At > loadStopped && r.Engine == Small).Min(r => r.Done);
        var report = string.Create(CultureInfo.InvariantCulture, $"""
            scrape interval {Interval.TotalMilliseconds:F0} ms; times from the engine's own KV usage crossing the threshold (polled every 50 ms) to the HealthScorer's stream and to the first probe answered from the other side:
              pressure: KV > 0.88 at +0 ms -> HealthScorer under pressure +{marked - crossed:F0} ms -> gateway stops routing +{away - crossed:F0} ms
              recovery: KV < 0.79 at +0 ms -> HealthScorer normal +{cleared - fell:F0} ms -> gateway routes again +{back - fell:F0} ms
              (probes every 50 ms; {routed.Count} probes, KV peak {kv.Max(k => k.Usage):F3})
            """);
        TestContext.Current.TestOutputHelper?.WriteLine(report);
        Console.WriteLine(report);

        Assert.Contains("\"engineId\":\"enginegeneral-0\"", entry, StringComparison.Ordinal);
        Assert.Contains("\"pressure\":1", entry, StringComparison.Ordinal);
        // The target (two scrape intervals) is shown by the printed figures on a machine with cores to spare (see the
        // README); the assertion only bounds the behaviour, so a loaded CI machine cannot fail it by scheduling alone.
        var bound = 5 * Interval.TotalMilliseconds;
        Assert.True(away - crossed <= bound, report);
        Assert.True(back - fell <= bound, report);
    }

    private static async Task WaitAsync(Func<bool> condition, string what, Func<string> state)
    {
        var deadline = DateTime.UtcNow.AddSeconds(20);
        while (!condition())
        {
            if (DateTime.UtcNow > deadline)
            {
                Assert.Fail($"Timed out waiting for {what}: {state()}");
            }

            await Task.Delay(20, Ct);
        }
    }

    /// <summary>A prompt whose prefix the gateway's rendezvous hashing sends to <paramref name="engine"/> while all is well.</summary>
    private static async Task<string> AffinePromptAsync(HttpClient gateway, string engine)
    {
        for (var i = 0; i < 64; i++)
        {
            var prompt = $"Probe {i}: say one word.";
            if (await RouteAsync(gateway, prompt, Ct) == engine && await RouteAsync(gateway, prompt, Ct) == engine)
            {
                return prompt;
            }
        }

        Assert.Fail($"no probe prompt routes to {engine}");
        return string.Empty;
    }

    private static async Task<string> RouteAsync(HttpClient gateway, string prompt, CancellationToken cancellationToken)
    {
        using var content = new StringContent(
            $$"""{"model":"{{Model}}","messages":[{"role":"user","content":"{{prompt}}"}],"max_tokens":1}""", Encoding.UTF8, "application/json");
        using var response = await gateway.PostAsync("/v1/chat/completions", content, cancellationToken);
        await response.Content.ReadAsStringAsync(cancellationToken);
        Assert.True(response.IsSuccessStatusCode, $"probe answered {(int)response.StatusCode}");
        return response.Headers.GetValues("x-platform-engine").Single();
    }

    /// <summary>A probe every 50 ms, each on its own (one sent just before the switch may wait in the loaded engine's queue).</summary>
    private static async Task ProbeLoopAsync(HttpClient gateway, string prompt, ConcurrentQueue<(double, double, string)> routed, Stopwatch clock, CancellationToken cancellationToken)
    {
        var probes = new List<Task>();
        try
        {
            while (!cancellationToken.IsCancellationRequested)
            {
                var at = clock.Elapsed.TotalMilliseconds;
                probes.Add(Task.Run(
                    async () =>
                    {
                        try
                        {
                            var engine = await RouteAsync(gateway, prompt, cancellationToken);
                            routed.Enqueue((at, clock.Elapsed.TotalMilliseconds, engine));
                        }
                        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
                        {
                        }
                    },
                    CancellationToken.None));
                await Task.Delay(50, cancellationToken);
            }
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
        }

        await Task.WhenAll(probes);
    }

    private async Task KvPollerAsync(ConcurrentQueue<(double, double)> kv, Stopwatch clock, CancellationToken cancellationToken)
    {
        try
        {
            while (!cancellationToken.IsCancellationRequested)
            {
                // Stamped when asked: the engine's value is at least this recent, so delays count against the scorer.
                var at = clock.Elapsed.TotalMilliseconds;
                var usage = await _small.KvCacheUsageAsync(cancellationToken);
                kv.Enqueue((at, usage));
                await Task.Delay(50, cancellationToken);
            }
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
        }
    }

    private async Task ScorerWatcherAsync(ConcurrentQueue<(double, HealthV1.PressureState)> pressure, Stopwatch clock, CancellationToken cancellationToken)
    {
        try
        {
            using var call = _scorer.Client.WatchFleet(new HealthV1.WatchFleetRequest(), cancellationToken: cancellationToken);
            await foreach (var snapshot in call.ResponseStream.ReadAllAsync(cancellationToken))
            {
                pressure.Enqueue((clock.Elapsed.TotalMilliseconds, snapshot.Engines.Single(e => e.EngineId == Small).Pressure));
            }
        }
        catch (Exception ex) when (cancellationToken.IsCancellationRequested && ex is OperationCanceledException or RpcException)
        {
        }
    }

    /// <summary>
    /// One client sending short completions back to back to the small engine until cancelled: 24 of them keep its
    /// 64 blocks at 0.94-1.0 (preemption frees a few blocks at a time), far from the 0.79 close threshold.
    /// </summary>
    private async Task LoadClientAsync(int client, CancellationToken cancellationToken)
    {
        using var http = new HttpClient { BaseAddress = _small.BaseUri, Timeout = Timeout.InfiniteTimeSpan };
        for (var n = 0; !cancellationToken.IsCancellationRequested; n++)
        {
            var words = string.Join(' ', Enumerable.Range(0, 50).Select(w => Words[((client * 7) + w + n) % Words.Length]));
            var body = $$"""{"model":"{{Model}}","prompt":"Request {{client}}-{{n}}: {{words}}","max_tokens":48,"ignore_eos":true}""";
            try
            {
                using var content = new StringContent(body, Encoding.UTF8, "application/json");
                using var response = await http.PostAsync("v1/completions", content, cancellationToken);
                await response.Content.ReadAsStringAsync(cancellationToken);
            }
            catch (Exception ex) when (cancellationToken.IsCancellationRequested && ex is OperationCanceledException or HttpRequestException or IOException)
            {
            }
        }
    }

    private async Task<string> RedisHealthEntryAsync(string engineId)
    {
        await using var redis = await ConnectionMultiplexer.ConnectAsync(_redis.ConnectionString);
        return (string?)await redis.GetDatabase().StringGetAsync($"platform:fleet:health:{engineId}") ?? string.Empty;
    }

    private static readonly string[] Words =
    [
        "river", "mountain", "quiet", "engine", "window", "garden", "silver", "orange", "planet", "morning", "thunder", "paper",
        "bridge", "candle", "forest", "harbor", "island", "jacket", "kitchen", "ladder", "marble", "needle", "ocean", "pencil",
        "rabbit", "saddle", "tunnel", "valley", "wallet", "yellow", "anchor", "basket", "castle", "desert", "feather", "glacier",
    ];
}
