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
    "fault-disconnect-storm" => await FaultDrillBenchmarks.DisconnectStormAsync(BenchArgs.Parse(args.Skip(1))),
    "gateway-soak" => await FaultDrillBenchmarks.SoakAsync(BenchArgs.Parse(args.Skip(1))),
    "classifier" => await ClassifierBenchmark.RunAsync(BenchArgs.Parse(args.Skip(1))),
    "healthscorer-parse" => await HealthScorerParseBenchmark.RunAsync(BenchArgs.Parse(args.Skip(1))),
    "spec-acceptance" => await SpecAcceptanceBenchmark.RunAsync(BenchArgs.Parse(args.Skip(1))),
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
              --warmup N             warm-up requests on each path before measuring (default 2000)
              --gateway-env K=V,...  extra environment for the gateway process (e.g. runtime knobs)
              --gateway-cpus LIST    run the gateway on these cores only (taskset -c LIST); start the tool
                                     itself under taskset for the other cores, e.g.
                                     taskset -c 0 dotnet run ... -- gateway-overhead --gateway-cpus 1
              --requests N           requests per worker in the small phase (default 20)
              --sched-slice-us N     the kernel's time slice for every process of the run (EEVDF custom slice,
                                     Linux 6.12+; default: the kernel's, 1.4 ms on two cores): a process woken
                                     on a busy core waits for the running one's slice unless its own is shorter
              --synchronized         every worker starts at once and asks for the same tokens (the streams stay
                                     in step); default: steady state (random start offsets and lengths, the
                                     ramp not counted)
          gateway-routing     3 engines, one slowed down: TTFT of round-robin, power-of-two-choices on load only
                              (the routing before) and latency-aware, and the share of requests each engine served;
                              one gateway each, every worker taking them in turn
              --concurrency N  --requests N (per worker and gateway)  --warmup N  --slowdown X
                                   (default 16, 40, 4, 4)
              --prefix-affinity    leave prefix affinity on (default off: the policy alone decides)
              --prompt-tokens N    prompt size, a different prompt per request (default 1024; 0: the one short prompt)
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
          fault-disconnect-storm  the whole topology (AppHost): N clients go away at once, half while waiting for
                              the first token (engines hung), half mid-stream; time until the engines'
                              vllm:num_requests_running + waiting are back to baseline (target 1 s)
              --streams N          clients (default 1000)  --engine-speedup X  (AppHost's, default 1)
          gateway-soak        the whole topology (AppHost): N concurrent streams through the gateway for a while:
                              errors (must be 0), TTFT percentiles, tokens/s, gateway CPU and memory
              --streams N  --seconds X  --max-tokens N (default 2000, 60, 64)  --engine-speedup X
          classifier          dev and test accuracy with per-class precision/recall; in-process latency on 4 KB prompts;
                              gRPC round trips on loopback against a classifier process; ClassifyBatch throughput
              --iterations N  --calls N  --batches N (default 200000, 20000, 20)  --out FILE
              --concurrency N      callers at once in the concurrent gRPC phase (default 8)
              --service-cpus LIST  run the classifier on these cores only (taskset -c LIST); start the tool
                                   itself under taskset for the other cores
              --service-env K=V,...  extra environment for the classifier process
              --in-process-only    stop after the in-process figures
          healthscorer-parse  the HealthScorer's /metrics parser on vLLM scrapes (46 KB single engine, 87 KB data
                              parallel, EngineSim's 45 KB): MB/s, µs and bytes allocated per scrape
              --seconds X          measuring time per case (default 3)
              --file PATH          parse this body instead of the built-in ones
          spec-acceptance     speculative acceptance per pool as the HealthScorer reports it: a code pool (code-tuned
                              draft) and a general pool (general draft), real classifier, HealthScorer and gateways;
                              phase 1 routed by the classifier, phase 2 code prompts forced to the general pool,
                              phase 3 general prompts forced to the code pool (Gateway:Classifier:ForceKind)
              --concurrency N  --max-tokens N  --k N  --general-engines N (default 8, 128, 4, 2)
              --window-seconds N   the HealthScorer's window (default 20)
              --phase-seconds X    length of each phase (default window + 4; at least window + 2)
              --sim-speedup X      engine speed-up factor (default 2)
        """);
    return 2;
}
