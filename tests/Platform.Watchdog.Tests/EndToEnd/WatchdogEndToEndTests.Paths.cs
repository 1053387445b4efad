using System.Collections.Concurrent;
using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Text.Json;
using Grpc.Core;
using Grpc.Net.Client;
using Platform.Watchdog.Tests.Fixtures;
using Platform.Watchdog.V1;
using StackExchange.Redis;

namespace Platform.Watchdog.Tests.EndToEnd;

/// <summary>
/// The other paths to a restart in the same platform: a slow engine (latency), an engine process stopped and left
/// stopped (dead), and an engine that hangs with no traffic and a /health that says 200 (idle probe). Each prints its
/// timeline from the fault, and bounds it generously: the restart itself is the AppHost starting a new EngineSim
/// process, which on a loaded 2-core machine takes from 2 s to over a minute.
/// </summary>
public sealed partial class WatchdogEndToEndTests
{
    private static readonly TimeSpan PathLimit = TimeSpan.FromSeconds(150);

    [Fact]
    public async Task SlowEngine_IsDetectedByLatencyDrainedRestartedAndUndrained()
    {
        var ct = TestContext.Current.CancellationToken;
        const string Engine = "enginegeneral-0";
        var engineUrl = Platform.Urls["enginegeneral"][0];
        await using var watch = await EngineWatch.StartAsync(Platform, Engine, ct);
        var before = await watch.ReplicaAsync(ct);

        // Every step of the engine 300 times slower: a short completion's first token takes over a second. Clients keep
        // sending short completions (the TTFT needs traffic) until the watchdog drains the engine, as gateways would.
        using var http = new HttpClient { Timeout = System.Threading.Timeout.InfiniteTimeSpan };
        using (var fault = await http.PostAsync(engineUrl + "/admin/faults", Json("""{"slowdown":300}"""), ct))
        {
            fault.EnsureSuccessStatusCode();
        }

        var injectedAt = watch.Now;
        var served = 0;
        var clients = Enumerable.Range(0, 4).Select(_ => Task.Run(async () =>
        {
            while (!watch.DrainStarted && !ct.IsCancellationRequested)
            {
                try
                {
                    using var response = await http.PostAsync(engineUrl + "/v1/completions", Json("""{"model":"llama-3.1-8b-instruct","prompt":"hello there","max_tokens":2}"""), ct);
                    Interlocked.Increment(ref served);
                }
                catch (Exception ex) when (ex is HttpRequestException or IOException)
                {
                    return;
                }
            }
        }, ct)).ToList();

        await watch.WaitForEndAsync(PathLimit, ct);
        await Task.WhenAll(clients).WaitAsync(TimeSpan.FromSeconds(60), ct);
        var timeline = watch.Print(injectedAt, $"fault injected (slowdown 300, 4 clients sending 2-token completions) at +0.00 s; {served} completions served until the drain");

        Assert.Equal(
            [EventKind.Detected, EventKind.DrainStarted, EventKind.DrainCompleted, EventKind.RestartRequested, EventKind.Recovered, EventKind.Undrained],
            timeline.Select(e => e.Event.Kind));
        Assert.Equal("latency", timeline[0].Event.Source);
        Assert.Contains("TTFT p95 over the 1 s budget", timeline[0].Event.Reason, StringComparison.Ordinal);
        await watch.AssertRestartedAsync(before, timeline, injectedAt, ct);
    }

    [Fact]
    public async Task StoppedEngineLeftStopped_IsDetectedDeadAndRestarted()
    {
        var ct = TestContext.Current.CancellationToken;
        const string Engine = "enginecode-0";
        await using var watch = await EngineWatch.StartAsync(Platform, Engine, ct);
        var before = await watch.ReplicaAsync(ct);

        // The AppHost stops the process and, told to, does not bring it back: only the watchdog can. (The fault is timed
        // from the request: the process may be gone well before the AppHost answers it.)
        var injectedAt = watch.Now;
        using (var stop = await watch.Control.PostAsync($"/resources/{Engine}/stop", null, ct))
        {
            stop.EnsureSuccessStatusCode();
        }

        Assert.Equal("Stopped", (await watch.ReplicaAsync(ct)).GetProperty("state").GetString(), StringComparer.OrdinalIgnoreCase);

        await watch.WaitForEndAsync(PathLimit, ct);
        var timeline = watch.Print(injectedAt, $"{Engine} stopped through the AppHost control API (not restarted by it) at +0.00 s");

        Assert.Equal(
            [EventKind.Detected, EventKind.DrainStarted, EventKind.DrainCompleted, EventKind.RestartRequested, EventKind.Recovered, EventKind.Undrained],
            timeline.Select(e => e.Event.Kind));
        Assert.Equal("dead", timeline[0].Event.Source);
        Assert.Contains("not brought back by the orchestrator", timeline[0].Event.Reason, StringComparison.Ordinal);
        // Not before the grace period, by the watchdog's own account of how long the checks have failed.
        var failingFor = double.Parse(System.Text.RegularExpressions.Regex.Match(timeline[0].Event.Reason, @"for (\d+(\.\d+)?) s, not brought back").Groups[1].Value, CultureInfo.InvariantCulture);
        Assert.True(failingFor >= 10, $"detected after {failingFor} s of failed checks (grace period 10 s)");
        Assert.Contains("unreachable", timeline[2].Event.Reason, StringComparison.Ordinal);
        await watch.AssertRestartedAsync(before, timeline, injectedAt, ct);
    }

    [Fact]
    public async Task IdleEngineThatHangsWithLyingHealth_IsFoundByTheIdleProbeBeforeTrafficArrives()
    {
        var ct = TestContext.Current.CancellationToken;
        const string Engine = "enginefallback-0";
        var engineUrl = Platform.Urls["enginefallback"][0];
        await using var watch = await EngineWatch.StartAsync(Platform, Engine, ct);
        var before = await watch.ReplicaAsync(ct);

        // No request runs: the HealthScorer's stall rule cannot see it, and /health keeps answering 200.
        using var http = new HttpClient();
        using (var fault = await http.PostAsync(engineUrl + "/admin/faults", Json("""{"hang":true,"lieHealth":true}"""), ct))
        {
            fault.EnsureSuccessStatusCode();
        }

        var injectedAt = watch.Now;
        await watch.WaitForEndAsync(PathLimit, ct);
        var timeline = watch.Print(injectedAt, "fault injected (hang + lieHealth, no request in flight) at +0.00 s");

        Assert.Equal(
            [EventKind.Detected, EventKind.DrainStarted, EventKind.DrainCompleted, EventKind.RestartRequested, EventKind.Recovered, EventKind.Undrained],
            timeline.Select(e => e.Event.Kind));
        Assert.Equal("idle_probe", timeline[0].Event.Source);
        Assert.Contains("idle deep probes (1-token generation) in a row failed", timeline[0].Event.Reason, StringComparison.Ordinal);
        await watch.AssertRestartedAsync(before, timeline, injectedAt, ct);
    }

    /// <summary>
    /// What the watchdog says about one engine (its event stream, from now on) and what the gateways see (the engine's
    /// drain messages in Redis), with times on one clock; the AppHost's view of the replica.
    /// </summary>
    private sealed class EngineWatch : IAsyncDisposable
    {
        private readonly Stopwatch _clock = Stopwatch.StartNew();
        private readonly ConcurrentQueue<(TimeSpan At, Event Event)> _events = new();
        private readonly ConcurrentQueue<(TimeSpan At, string Flag, DateTimeOffset WrittenAt)> _drains = new();
        private readonly CancellationTokenSource _stop = new();
        private readonly PlatformProcess _platform;
        private readonly string _engine;
        private GrpcChannel _channel = null!;
        private ConnectionMultiplexer _redis = null!;
        private Task _reader = Task.CompletedTask;

        private EngineWatch(PlatformProcess platform, string engine)
        {
            _platform = platform;
            _engine = engine;
            Control = new HttpClient { BaseAddress = platform.ControlUrl };
        }

        public HttpClient Control { get; }

        public TimeSpan Now => _clock.Elapsed;

        public bool DrainStarted => _events.Any(e => e.Event.Kind == EventKind.DrainStarted);

        public static async Task<EngineWatch> StartAsync(PlatformProcess platform, string engine, CancellationToken ct)
        {
            var watch = new EngineWatch(platform, engine);
            watch._channel = GrpcChannel.ForAddress(platform.Urls["watchdog"][1]);
            var client = new V1.Watchdog.WatchdogClient(watch._channel);
            await WaitUntilWatchingAsync(platform, client, ct);

            var call = client.WatchEvents(new WatchEventsRequest(), cancellationToken: watch._stop.Token);
            watch._reader = Task.Run(async () =>
            {
                try
                {
                    await foreach (var e in call.ResponseStream.ReadAllAsync(watch._stop.Token))
                    {
                        if (e.EngineId == engine)
                        {
                            watch._events.Enqueue((watch._clock.Elapsed, e));
                        }
                    }
                }
                catch (Exception ex) when (ex is OperationCanceledException or RpcException)
                {
                }
                finally
                {
                    call.Dispose();
                }
            }, CancellationToken.None);

            var redisUrl = new Uri(platform.Urls["redis"][0]);
            watch._redis = await ConnectionMultiplexer.ConnectAsync($"{redisUrl.Host}:{redisUrl.Port}");
            await watch._redis.GetSubscriber().SubscribeAsync(RedisChannel.Literal("platform:fleet:changes"), (_, message) =>
            {
                var fields = ((string)message!).Split('|');
                // D|engine|replica|written at (Unix ms, the writer's clock)|version|flag|reason
                if (fields[0] == "D" && fields[1] == engine)
                {
                    watch._drains.Enqueue((watch._clock.Elapsed, fields[5], DateTimeOffset.FromUnixTimeMilliseconds(long.Parse(fields[3], CultureInfo.InvariantCulture))));
                }
            });
            return watch;
        }

        public async Task<JsonElement> ReplicaAsync(CancellationToken ct)
        {
            using var document = JsonDocument.Parse(await Control.GetStringAsync($"/resources/{_engine}", ct));
            return document.RootElement[0].GetProperty("replicas")[0].Clone();
        }

        /// <summary>Waits until the watchdog is done with the engine (undrained, failed or escalated), then for the undrain in Redis.</summary>
        public async Task WaitForEndAsync(TimeSpan limit, CancellationToken ct)
        {
            try
            {
                await Poll.UntilAsync(() => _events.Any(e => e.Event.Kind is EventKind.Undrained or EventKind.Failed or EventKind.Escalated), limit, "the watchdog to finish with " + _engine);
            }
            finally
            {
                Print(TimeSpan.Zero, "(events so far, from the start of the watch)");
            }

            await Poll.UntilAsync(() => _drains.Any(d => d.Flag == "0"), TimeSpan.FromSeconds(10), "the undrain message in Redis");
        }

        public List<(TimeSpan At, Event Event)> Print(TimeSpan zero, string header)
        {
            var output = TestContext.Current.TestOutputHelper!;
            output.WriteLine(header);
            var timeline = _events.ToList();
            foreach (var (at, e) in timeline)
            {
                output.WriteLine(string.Create(CultureInfo.InvariantCulture, $"+{(at - zero).TotalSeconds,6:0.00} s  {e.Kind,-28} {e.Source,-10} {e.Reason}"));
            }

            foreach (var (at, flag, _) in _drains)
            {
                output.WriteLine(string.Create(CultureInfo.InvariantCulture, $"+{(at - zero).TotalSeconds,6:0.00} s  Redis drain flag of {_engine} = {flag}"));
            }

            return timeline;
        }

        /// <summary>Drained before the restart, undrained after the warm-up; a new process on the same endpoint that generates; in bounds.</summary>
        public async Task AssertRestartedAsync(JsonElement before, List<(TimeSpan At, Event Event)> timeline, TimeSpan injectedAt, CancellationToken ct)
        {
            var output = TestContext.Current.TestOutputHelper!;
            var undrainedAt = timeline[^1].At - injectedAt;
            var restart = timeline.Single(e => e.Event.Kind == EventKind.Recovered).At - timeline.Single(e => e.Event.Kind == EventKind.RestartRequested).At;
            output.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"back in service {undrainedAt.TotalSeconds:0.0} s after the fault; detected at +{(timeline[0].At - injectedAt).TotalSeconds:0.0} s; the restart itself (requested to recovered) took {restart.TotalSeconds:0.0} s; load average {File.ReadAllText("/proc/loadavg").Split(' ')[0]}"));
            Assert.True(undrainedAt < PathLimit, $"back in service {undrainedAt.TotalSeconds:0.0} s after the fault (limit {PathLimit.TotalSeconds:0} s)");

            // Ordered on the watchdog's own clock (the drain message says when the watchdog wrote it; the event stream and
            // the Redis subscription reach this test with delays of their own): drained before the restart, undrained
            // after the warm-up.
            Assert.Equal(["1", "0"], _drains.Select(d => d.Flag));
            var requested = timeline.Single(e => e.Event.Kind == EventKind.RestartRequested).Event.At.ToDateTimeOffset();
            var recovered = timeline.Single(e => e.Event.Kind == EventKind.Recovered).Event.At.ToDateTimeOffset();
            Assert.True(_drains.First().WrittenAt <= requested, $"drained at {_drains.First().WrittenAt:HH:mm:ss.fff}, restart requested at {requested:HH:mm:ss.fff}");
            Assert.True(_drains.Last().WrittenAt >= recovered.AddMilliseconds(-1), $"undrained at {_drains.Last().WrittenAt:HH:mm:ss.fff}, recovered at {recovered:HH:mm:ss.fff}");

            var after = await ReplicaAsync(ct);
            Assert.NotEqual(before.GetProperty("pid").GetInt32(), after.GetProperty("pid").GetInt32());
            var engineUrl = after.GetProperty("endpoints").GetProperty("http").GetString()!;
            Assert.Equal(before.GetProperty("endpoints").GetProperty("http").GetString(), engineUrl);
            using var http = new HttpClient();
            var model = _engine.StartsWith("enginefallback", StringComparison.Ordinal) ? "phi-3-mini-4k-instruct" : "llama-3.1-8b-instruct";
            using var completion = await http.PostAsync(engineUrl + "/v1/completions", Json($$"""{"model":"{{model}}","prompt":"hello","max_tokens":2}"""), ct);
            Assert.Equal(HttpStatusCode.OK, completion.StatusCode);
        }

        public async ValueTask DisposeAsync()
        {
            await _stop.CancelAsync();
            await _reader;
            await _redis.DisposeAsync();
            _channel.Dispose();
            Control.Dispose();
            _stop.Dispose();
        }

        private static async Task WaitUntilWatchingAsync(PlatformProcess platform, V1.Watchdog.WatchdogClient client, CancellationToken ct)
        {
            using var http = new HttpClient();
            await Poll.UntilAsync(
                async () =>
                {
                    using var health = await http.GetAsync(platform.Urls["watchdog"][0] + "/health", ct);
                    return health.StatusCode == HttpStatusCode.OK && await health.Content.ReadAsStringAsync(ct) == "Healthy"
                        && (await client.GetStatusAsync(new GetStatusRequest(), cancellationToken: ct)).Leader;
                },
                TimeSpan.FromSeconds(90),
                "the watchdog to lead with a fresh view");
        }
    }
}
