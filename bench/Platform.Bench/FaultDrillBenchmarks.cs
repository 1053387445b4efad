using System.Globalization;
using System.Reflection;
using Platform.FaultSuite.Drills;

namespace Platform.Bench;

/// <summary>
/// The fault suite's drills at full size, against the whole topology started by the AppHost (dynamic ports): the same
/// code the CI tests run (tests/Platform.FaultSuite.Tests/Drills), with the numbers.
/// </summary>
internal static class FaultDrillBenchmarks
{
    private static readonly string AppHostDll =
        typeof(FaultDrillBenchmarks).Assembly.GetCustomAttributes<AssemblyMetadataAttribute>().First(a => a.Key == "AppHostOutput").Value!;

    /// <summary>fault-disconnect-storm: N clients go away at once, half waiting for the first token, half mid-stream.</summary>
    public static async Task<int> DisconnectStormAsync(BenchArgs args)
    {
        var streams = args.Int("streams", 1000);
        await using var platform = await StartAsync(args);
        var loadBefore = LoadAverage();
        var (baseline, waiting, midStream) = await DisconnectStorm.RunAsync(platform, streams, Console.WriteLine, CancellationToken.None);
        Console.WriteLine();
        Console.WriteLine($"Storm of {streams} client disconnects through the gateway (baseline {baseline} running + waiting on {platform.Engines.Count} engines). Load average (1 min) before / after: {loadBefore} / {LoadAverage()}");
        Console.WriteLine();
        Console.WriteLine("| wave | clients | engines' peak running / waiting | cancelled by the client | ended otherwise | clients' requests ended | gateway holds no engine request | time to baseline |");
        Console.WriteLine("| --- | --- | --- | --- | --- | --- | --- | --- |");
        foreach (var wave in new[] { waiting, midStream })
        {
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"| {wave.Name} | {wave.Streams} | {wave.PeakRunning} / {wave.PeakWaiting} | {wave.ClientCancelled} | {wave.EndedOtherwise} | {wave.ClientsEndedMs:0} ms | {wave.GatewayReleasedMs:0} ms | {wave.TimeToBaselineMs:0} ms |"));
        }

        return waiting.EndedOtherwise + midStream.EndedOtherwise == 0 && waiting.TimeToBaselineMs <= 1000 && midStream.TimeToBaselineMs <= 1000 ? 0 : 1;
    }

    /// <summary>gateway-soak: N concurrent streams through the gateway for a while; errors must be 0.</summary>
    public static async Task<int> SoakAsync(BenchArgs args)
    {
        var streams = args.Int("streams", 2000);
        var seconds = args.Double("seconds", 60);
        var maxTokens = args.Int("max-tokens", 64);
        await using var platform = await StartAsync(args);
        var pid = (await platform.ReplicaAsync("gateway-0", CancellationToken.None)).GetProperty("pid").GetInt32();
        Console.WriteLine($"{streams} workers, one stream each at every moment, {maxTokens} tokens per stream, for {seconds} s. Load average before: {LoadAverage()}");
        var result = await GatewaySoak.RunAsync(platform.Gateway, platform.ApiKey, pid, streams, TimeSpan.FromSeconds(seconds), maxTokens, CancellationToken.None);
        Console.WriteLine(result.Summary());
        Console.WriteLine($"Load average after: {LoadAverage()}");
        return result.Errors == 0 ? 0 : 1;
    }

    private static async Task<PlatformProcess> StartAsync(BenchArgs args)
    {
        var appHostArgs = new List<string> { "--stop-timeout-ms", "3000" };
        if (args.String("engine-speedup") is { } speedup)
        {
            appHostArgs.AddRange(["--engine-speedup", speedup]);
        }

        var platform = await PlatformProcess.StartAsync(AppHostDll, TimeSpan.FromSeconds(180), [.. appHostArgs]);
        Console.WriteLine(platform.Lines.First(l => l.StartsWith(PlatformProcess.ReadyPrefix, StringComparison.Ordinal)));
        return platform;
    }

    private static string LoadAverage() => File.ReadAllText("/proc/loadavg").Split(' ')[0];
}
