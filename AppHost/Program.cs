using Platform.AppHost.Hosting;

// The platform's topology, declared once: infrastructure, then engines, then services.
var builder = PlatformApplication.CreateBuilder(args);

// Infrastructure: fleet state, breakers, drains and rate limits live in Redis.
var redis = builder.AddRedis("redis");

// Engines: EngineSim locally, vLLM with --engines vllm. One model in two pools that differ by draft model,
// so routing by task affinity gets more accepted draft tokens; a small model as the fallback.
var fallback = builder.AddEnginePool("enginefallback", model: "phi-3-mini-4k-instruct", replicas: 1)
    .WithMaxModelLen(4096);

var general = builder.AddEnginePool("enginegeneral", model: "llama-3.1-8b-instruct", replicas: 2)
    .WithTaskAffinity(TaskAffinity.General)
    .WithDraftModel("llama-3.2-1b-instruct", DraftKind.General, numSpeculativeTokens: 4)
    .WithFallback(fallback)
    .WithMaxModelLen(32768);

var code = builder.AddEnginePool("enginecode", model: "llama-3.1-8b-instruct", replicas: 1)
    .WithTaskAffinity(TaskAffinity.Code)
    .WithDraftModel("llama-3.2-1b-code", DraftKind.Code, numSpeculativeTokens: 5)
    .WithFallback(fallback)
    .WithMaxModelLen(32768);

// Services. The classifier: code or general for every prompt, so the gateway can pick the pool whose draft fits.
// Its ports follow the services' scheme (from 18200: http 18200, grpc 18201).
var classifier = builder.AddProject<Projects.Platform_Classifier>("classifier")
    .WithHttpEndpoint()
    .WithGrpcEndpoint();

// The HealthScorer: scrapes every engine's /metrics, scores them, streams WatchFleet, writes fleet health (http 18202,
// grpc 18203).
var healthscorer = builder.AddProject<Projects.Platform_HealthScorer>("healthscorer")
    .WithHttpEndpoint()
    .WithGrpcEndpoint()
    .WithFleet()
    .WithReference(redis)
    .WaitFor(redis).WaitFor(fallback).WaitFor(general).WaitFor(code);

// The gateway: OpenAI-compatible HTTP API and gRPC Inference, with the development key in Development.
var apiKey = DevelopmentApiKey.From(builder.Options);
var gateway = builder.AddProject<Projects.Platform_Gateway>("gateway")
    .WithHttpEndpoint(port: builder.Options.GatewayHttpPort)
    .WithGrpcEndpoint(port: builder.Options.GatewayGrpcPort)
    .WithFleet()
    .WithReference(redis)
    .WithReference(classifier)
    .WithReference(healthscorer)
    .WaitFor(redis).WaitFor(fallback).WaitFor(general).WaitFor(code).WaitFor(classifier);
if (builder.Options.Environment == "Development")
{
    gateway.WithEnvironment("Gateway__DevelopmentKey", apiKey).WithReadyLineValue("apikey", apiKey);
}

// The watchdog: follows the HealthScorer, drains and restarts degraded engines through the control API within a
// disruption budget (http 18204, grpc 18205). It does not wait for the HealthScorer: until the first snapshot it serves
// its API and acts on nothing. In Development its operator actions take the development key.
var watchdog = builder.AddProject<Projects.Platform_Watchdog>("watchdog")
    .WithHttpEndpoint()
    .WithGrpcEndpoint()
    .WithFleet()
    .WithControlApi()
    .WithReference(redis)
    .WithReference(healthscorer)
    .WaitFor(redis);
if (builder.Options.Environment == "Development")
{
    watchdog.WithEnvironment("Watchdog__Admin__Key", apiKey);
}

builder.Build().Run();
