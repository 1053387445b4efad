using Platform.Bench;

// Benchmarks print figures measured side by side in one run; they are tools, not tests.
return args.FirstOrDefault() switch
{
    "enginesim-streams" => await EngineSimStreamsBenchmark.RunAsync(BenchArgs.Parse(args.Skip(1))),
    "gateway-overhead" => await GatewayBenchmarks.OverheadAsync(BenchArgs.Parse(args.Skip(1))),
    "gateway-routing" => await GatewayBenchmarks.RoutingAsync(BenchArgs.Parse(args.Skip(1))),
    "gateway-crash" => await GatewayResilienceBenchmarks.CrashAsync(BenchArgs.Parse(args.Skip(1))),
    "gateway-redis-outage" => await GatewayResilienceBenchmarks.RedisOutageAsync(BenchArgs.Parse(args.Skip(1))),
    "gateway-breaker-propagation" => await BreakerPropagationBenchmark.RunAsync(BenchArgs.Parse(args.Skip(1))),
    _ => Usage(),
};

static int Usage()
{
    Console.Error.WriteLine("""
        usage: dotnet run -c Release --project bench/Platform.Bench -- <benchmark> [options]

        benchmarks:
          enginesim-streams   one EngineSim holding N concurrent SSE streams: errors, CPU per token, memory per stream
              --streams N          concurrent streams (default 2000)
              --max-tokens N       tokens per stream (default 256)
              --max-num-seqs N     engine batch size (default: streams, so every stream is running at once)
              --sim-speedup X      engine speed-up factor (default 1: calibrated 8B-on-one-GPU timings)
              --engine-dll PATH    EngineSim build to run (default: the one built with this tool)
              --out FILE           also write the report (markdown) to FILE
          gateway-overhead    the same streaming workload direct to EngineSim and through the gateway, alternating:
                              added TTFT at 64 streams, TTFT p99 and throughput ratios at 1,000 streams,
                              gateway CPU per relayed token and memory per open stream
              --concurrency N        small phase (default 64)
              --large-concurrency N  large phase (default 1000)
          gateway-routing     3 engines, one slowed down: TTFT of health-aware routing vs round-robin
              --concurrency N  --requests N  --slowdown X (default 32, 12, 4)
          gateway-crash       3 engines under streaming load; one crashes mid-stream: the streams on it, how each
                              ended (continued, retried, explicit error event, silently truncated: must be 0),
                              continued streams checked for tokens and usage
              --concurrency N  --max-tokens N  --max-num-seqs N (default 200, 200, 48)
          gateway-redis-outage  2 gateways on one Redis under load; Redis stopped, then restarted on the
                              same port: failures per phase; time until both gateways are back on Redis and a
                              breaker opened by A during the outage is in Redis and on B
              --concurrency N  --outage-seconds N (default 64, 30)
          gateway-breaker-propagation  2 gateways on one Redis, 3 engines: A opens an engine's breaker (real
                              failures), time until B holds it (p50/p99/max), B's requests kept off it
              --samples N (default 50)
        """);
    return 2;
}
