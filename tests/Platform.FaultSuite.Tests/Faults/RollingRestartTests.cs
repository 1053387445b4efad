using System.Diagnostics;
using System.Globalization;
using Grpc.Core;
using Platform.FaultSuite.Tests.Support;
using Platform.Watchdog.V1;

namespace Platform.FaultSuite.Tests.Faults;

/// <summary>
/// Fault 9: an operator restarts every engine, one at a time, under load, with zero failed requests. Each restart is
/// the watchdog's operator <c>Restart</c> (admin key): drain, wait for in-flight requests, restart through the
/// AppHost, warm, undrain; the next one starts only when the previous engine is back in service. The engines of
/// <c>enginegeneral</c> are restarted within the disruption budget (the other one serves). <c>enginecode</c> and
/// <c>enginefallback</c> have one engine each, which the budget refuses to restart while it serves (FAILED_PRECONDITION,
/// shown first): the operator overrides it with <c>force</c>, knowing where the traffic goes meanwhile: code prompts to
/// <c>enginegeneral</c> (the same model; affinity is a preference), and the fallback pool is restarted last, while every
/// primary engine is back and serving, since it serves only when the primaries refuse (services/Watchdog/README.md,
/// "Rolling restart").
/// </summary>
[Collection(TopologyCollection.Name)]
public sealed class RollingRestartTests(TopologyFixture fixture)
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(60);

    /// <summary>Per engine, drain to undrain: a new process starts and warms (tens of seconds on a loaded machine).</summary>
    private static readonly TimeSpan RestartBound = TimeSpan.FromSeconds(150);

    /// <summary>The order, and whether the budget must be overridden.</summary>
    private static readonly (string Engine, bool Force)[] Order =
    [
        ("enginegeneral-0", false),
        ("enginegeneral-1", false),
        ("enginecode-0", true),
        ("enginefallback-0", true),
    ];

    [Fact]
    public async Task OperatorRestartsEveryEngineOneAtATime_UnderLoad_ZeroFailedRequests()
    {
        var ct = TestContext.Current.CancellationToken;
        var output = TestContext.Current.TestOutputHelper!;
        var platform = fixture.Platform;
        var watchdog = fixture.Watchdog;
        await fixture.WaitServingAsync(ct);
        var pidsBefore = new Dictionary<string, int>();
        foreach (var (engine, _) in Order)
        {
            pidsBefore[engine] = (await platform.ReplicaAsync(engine, ct)).GetProperty("pid").GetInt32();
        }

        var since = await watchdog.LastSequenceAsync(ct);
        var load = Readings.LoadAverage();
        var traffic = new Traffic(platform, workers: 8, maxTokens: 32, phase: "before");
        var refusals = new Dictionary<string, int>();
        var unavailable = 0;
        RpcException unforced;
        DateTimeOffset started;
        TimeSpan total;
        try
        {
            await traffic.WaitForAsync(40, Timeout, ct);

            // What the budget says about the last serving engine of a pool without the override.
            unforced = await Assert.ThrowsAsync<RpcException>(async () => await watchdog.Client.RestartAsync(
                new EngineActionRequest { EngineId = "enginecode-0", Reason = "rolling restart" }, watchdog.Admin, cancellationToken: ct));
            for (var attempt = 0; unforced.StatusCode == StatusCode.Unavailable && attempt < 60; attempt++)
            {
                // A leadership gap: retried, as an operator's tool would.
                unavailable++;
                await Task.Delay(TimeSpan.FromMilliseconds(500), ct);
                unforced = await Assert.ThrowsAsync<RpcException>(async () => await watchdog.Client.RestartAsync(
                    new EngineActionRequest { EngineId = "enginecode-0", Reason = "rolling restart" }, watchdog.Admin, cancellationToken: ct));
            }

            started = DateTimeOffset.UtcNow;
            var clock = Stopwatch.StartNew();
            foreach (var (engine, force) in Order)
            {
                traffic.Phase = "restarting " + engine;
                var from = await watchdog.LastSequenceAsync(ct);
                refusals[engine] = 0;

                // Right after the previous engine's undrain its sibling may not count as healthy yet (the watchdog cleared
                // its history and waits for the next HealthScorer snapshot): the budget refuses until then.
                await Wait.UntilAsync(
                    async () =>
                    {
                        try
                        {
                            await watchdog.Client.RestartAsync(
                                new EngineActionRequest { EngineId = engine, Reason = "rolling restart", Force = force }, watchdog.Admin, cancellationToken: ct);
                            return true;
                        }
                        catch (RpcException ex) when (ex.StatusCode == StatusCode.FailedPrecondition && !force)
                        {
                            refusals[engine]++;
                            return false;
                        }
                        catch (RpcException ex) when (ex.StatusCode == StatusCode.Unavailable)
                        {
                            // A leadership gap (the one replica's lease lapsed and is being taken again, e.g. a renewal
                            // past its Redis timeout on a loaded machine): UNAVAILABLE is the retryable answer.
                            unavailable++;
                            return false;
                        }
                    },
                    Timeout,
                    $"the watchdog to accept the restart of {engine}",
                    ct);
                var end = await watchdog.WaitForEventAsync(from, engine, WatchdogApi.Ends, RestartBound, $"{engine} back in service", ct);
                Assert.True(end.Kind == EventKind.Undrained, $"{engine}: {end.Kind} {end.Reason}");
            }

            total = clock.Elapsed;
            traffic.Phase = "after";
            await traffic.WaitForAsync(40, Timeout, ct);
        }
        finally
        {
            await traffic.DisposeAsync();
        }

        var events = await watchdog.EventsSinceAsync(since, null, ct);
        output.WriteLine($"without force, Restart of enginecode-0: {unforced.StatusCode}: {unforced.Status.Detail}");
        output.WriteLine($"calls answered UNAVAILABLE (a leadership gap) and retried: {unavailable}");
        output.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"rolling restart of {Order.Length} engines under 8 workers: {total.TotalSeconds:0.0} s in all; load average {load} at the start, {Readings.LoadAverage()} at the end"));
        output.WriteLine("engine            force  refused  drain started  drained   restart   recovered  undrained  pid");
        var pidsAfter = new Dictionary<string, int>();
        foreach (var (engine, force) in Order)
        {
            pidsAfter[engine] = (await platform.ReplicaAsync(engine, ct)).GetProperty("pid").GetInt32();
            var mine = events.Where(e => e.EngineId == engine).ToList();
            string At(EventKind kind) => mine.FirstOrDefault(e => e.Kind == kind) is { } e ? WatchdogApi.Offset(e, started) : "      -";
            output.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"{engine,-17} {(force ? "yes" : "no"),-6} {refusals.GetValueOrDefault(engine),7}  {At(EventKind.DrainStarted)}  {At(EventKind.DrainCompleted)}  {At(EventKind.RestartRequested)}  {At(EventKind.Recovered)}  {At(EventKind.Undrained)}  {pidsBefore[engine]} -> {pidsAfter[engine]}"));
            foreach (var e in mine.Where(e => e.Kind == EventKind.DrainCompleted))
            {
                output.WriteLine($"    {engine} drain: {e.Reason}");
            }
        }

        foreach (var phase in new[] { "before" }.Concat(Order.Select(o => "restarting " + o.Engine)).Append("after"))
        {
            var pools = traffic.In(phase).GroupBy(r => (r.Code ? "code" : "general") + "->" + (r.Result.Pool ?? "none")).OrderBy(g => g.Key).Select(g => $"{g.Key} {g.Count()}");
            output.WriteLine($"{traffic.Describe(phase)}; {string.Join(", ", pools)}");
        }

        Assert.Equal(StatusCode.FailedPrecondition, unforced.StatusCode);
        Assert.Contains("disruption budget", unforced.Status.Detail, StringComparison.Ordinal);
        foreach (var (engine, _) in Order)
        {
            Assert.NotEqual(pidsBefore[engine], pidsAfter[engine]);
            Assert.Equal(
                [EventKind.DrainStarted, EventKind.DrainCompleted, EventKind.RestartRequested, EventKind.Recovered, EventKind.Undrained],
                events.Where(e => e.EngineId == engine).Select(e => e.Kind));
        }

        Assert.True(traffic.Results.All(r => r.Result.Ok), "requests failed: " + Traffic.Failures(traffic.Results));
        Assert.All(traffic.Results, r => Assert.Equal(32, r.Result.CompletionTokens));

        // While the code pool's only engine restarted, code prompts were served by the general pool, not the fallback.
        Assert.DoesNotContain(traffic.In("restarting enginecode-0"), r => r.Result.Fallback);
    }
}
