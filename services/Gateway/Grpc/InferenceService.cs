using System.Text.Json.Nodes;
using Grpc.Core;
using Platform.Fleet.Catalog;
using Platform.Gateway.Api;
using Platform.Gateway.Auth;
using Platform.Gateway.Limits;
using Platform.Gateway.Pipeline;
using Platform.Gateway.Telemetry;
using Platform.Inference.V1;

namespace Platform.Gateway.Grpc;

/// <summary>
/// <c>platform.inference.v1.Inference</c>: the same generation as the HTTP chat API (same validation, keys, limits and
/// pipeline), with typed messages. The call's cancellation token (deadline or caller cancel) cancels the pipeline.
/// </summary>
internal sealed class InferenceService(
    ApiKeyStore keys,
    IFleetCatalog catalog,
    KeyRateLimiter limits,
    IGenerationPipeline pipeline,
    GatewayTelemetry telemetry,
    TimeProvider time) : Inference.V1.Inference.InferenceBase
{
    public const string FallbackTrailer = "x-platform-fallback";

    public override async Task Generate(GenerateRequest request, IServerStreamWriter<GenerateResponse> responseStream, ServerCallContext context)
    {
        var received = time.GetTimestamp();
        var (generation, key) = await AdmitAsync(request, context);
        using var scope = telemetry.Start(generation.Api, generation.Model, "grpc", time, received);
        var delta = new Delta();
        TimeSpan? engineWait = null;
        var firstSent = false;
        var message = new GenerateResponse();
        string? finishReason = null;
        await foreach (var ev in pipeline.RunAsync(generation, context.CancellationToken).WithCancellation(context.CancellationToken))
        {
            switch (ev)
            {
                case RoutedEvent routed:
                    scope.Routed(routed.Route);
                    MarkFallback(routed.Route, context);
                    engineWait = routed.EngineWait;
                    break;
                case ContinuedEvent continued:
                    MarkFallback(continued.Route, context);
                    break;
                case ContentEvent { ChoiceIndex: 0 } content:
                    scope.Content();
                    finishReason = content.FinishReason ?? finishReason;
                    if (content.Text.Length > 0)
                    {
                        delta.Text = content.Text;
                        message.Delta = delta;
                        await responseStream.WriteAsync(message, context.CancellationToken);
                        if (!firstSent)
                        {
                            firstSent = true;
                            scope.FirstContentSent(engineWait);
                        }
                    }

                    break;
                case CompletedEvent completed:
                    scope.Completed(completed, generation.Id, StatusCodes.Status200OK);
                    await responseStream.WriteAsync(new GenerateResponse { Finish = Finish(generation, completed, finishReason) }, context.CancellationToken);
                    await limits.ChargeAsync(key, completed.Usage);
                    return;
                case FailedEvent failed:
                    scope.Failed(failed.Error.Status, failed.Error.Code ?? failed.Error.Type);
                    throw GrpcErrors.ToRpcException(failed.Error);
            }
        }

        context.CancellationToken.ThrowIfCancellationRequested();
        throw new RpcException(new Status(StatusCode.Internal, "The generation ended without a result."));
    }

    public override async Task<CompleteResponse> Complete(GenerateRequest request, ServerCallContext context)
    {
        var (generation, key) = await AdmitAsync(request, context);
        using var scope = telemetry.Start(generation.Api, generation.Model, "grpc", time);
        var text = new System.Text.StringBuilder();
        string? finishReason = null;
        await foreach (var ev in pipeline.RunAsync(generation, context.CancellationToken).WithCancellation(context.CancellationToken))
        {
            switch (ev)
            {
                case RoutedEvent routed:
                    scope.Routed(routed.Route);
                    MarkFallback(routed.Route, context);
                    break;
                case ContinuedEvent continued:
                    MarkFallback(continued.Route, context);
                    break;
                case ContentEvent { ChoiceIndex: 0 } content:
                    scope.Content();
                    text.Append(content.Text);
                    finishReason = content.FinishReason ?? finishReason;
                    break;
                case CompletedEvent completed:
                    scope.Completed(completed, generation.Id, StatusCodes.Status200OK);
                    await limits.ChargeAsync(key, completed.Usage);
                    var finish = Finish(generation, completed, finishReason);
                    return new CompleteResponse
                    {
                        Id = finish.Id,
                        Model = finish.Model,
                        Text = text.ToString(),
                        FinishReason = finish.FinishReason,
                        Usage = finish.Usage,
                        Routing = finish.Routing,
                    };
                case FailedEvent failed:
                    scope.Failed(failed.Error.Status, failed.Error.Code ?? failed.Error.Type);
                    throw GrpcErrors.ToRpcException(failed.Error);
            }
        }

        context.CancellationToken.ThrowIfCancellationRequested();
        throw new RpcException(new Status(StatusCode.Internal, "The generation ended without a result."));
    }

    public override Task<ListModelsResponse> ListModels(ListModelsRequest request, ServerCallContext context)
    {
        var key = Authenticate(context);
        var response = new ListModelsResponse();
        foreach (var model in catalog.Models)
        {
            if (!key.MayUse(model.Name))
            {
                continue;
            }

            var entry = new Model { Id = model.Name, MaxContextLength = model.MaxModelLen, FallbackModel = model.FallbackModel ?? string.Empty };
            foreach (var pool in model.Pools)
            {
                entry.Pools.Add(pool.Name);
            }

            response.Models.Add(entry);
        }

        return Task.FromResult(response);
    }

    /// <summary>The request as the chat API's body, validated by the same rules, so both front ends agree.</summary>
    internal static JsonObject ToChatBody(GenerateRequest request)
    {
        var messages = new JsonArray();
        foreach (var m in request.Messages)
        {
            messages.Add(new JsonObject { ["role"] = m.Role, ["content"] = m.Content });
        }

        var body = new JsonObject { ["model"] = request.Model, ["messages"] = messages };
        if (request.HasMaxTokens)
        {
            body["max_tokens"] = request.MaxTokens;
        }

        if (request.HasTemperature)
        {
            body["temperature"] = Math.Round((double)request.Temperature, 6);
        }

        if (request.HasTopP)
        {
            body["top_p"] = Math.Round((double)request.TopP, 6);
        }

        if (request.Stop.Count > 0)
        {
            var stop = new JsonArray();
            foreach (var s in request.Stop)
            {
                stop.Add(s);
            }

            body["stop"] = stop;
        }

        if (request.HasSeed)
        {
            body["seed"] = request.Seed;
        }

        if (request.User.Length > 0)
        {
            body["user"] = request.User;
        }

        // Re-read as JSON so the validator sees exactly what an HTTP client would have sent.
        return (JsonObject)JsonNode.Parse(body.ToJsonString())!;
    }

    private static void MarkFallback(RouteDecision route, ServerCallContext context)
    {
        if (route.Fallback && context.ResponseTrailers.Get(FallbackTrailer) is null)
        {
            context.ResponseTrailers.Add(FallbackTrailer, "true");
        }
    }

    private static Finish Finish(GenerationRequest generation, CompletedEvent completed, string? finishReason) => new()
    {
        Id = generation.Id,
        Model = completed.Route.ServedModel,
        FinishReason = finishReason switch
        {
            "stop" => FinishReason.Stop,
            "length" => FinishReason.Length,
            _ => FinishReason.Unspecified,
        },
        Usage = new Usage
        {
            PromptTokens = completed.Usage.PromptTokens,
            CompletionTokens = completed.Usage.CompletionTokens,
            TotalTokens = completed.Usage.TotalTokens,
            CachedPromptTokens = completed.Usage.CachedPromptTokens,
        },
        Routing = new Inference.V1.Routing
        {
            Pool = completed.Route.Pool,
            Engine = completed.Route.Engine.Id,
            Kind = generation.KindHint == Classifier.V1.TaskKind.Unspecified ? completed.Route.Kind : Classifier.V1.TaskKind.Unspecified,
            Fallback = completed.Route.Fallback,
            Retries = completed.Retries,
            Continuations = completed.Continuations,
        },
    };

    private ApiKey Authenticate(ServerCallContext context)
    {
        string? value = null;
        var count = 0;
        foreach (var entry in context.RequestHeaders)
        {
            if (entry.Key == "authorization")
            {
                count++;
                value = entry.IsBinary ? null : entry.Value;
            }
        }

        if (count == 1 && value is not null && BearerToken.TryRead(value.AsSpan(), out var token) && keys.Find(token) is { } key)
        {
            return key;
        }

        throw GrpcErrors.ToRpcException(GatewayErrors.InvalidApiKey);
    }

    private async Task<(GenerationRequest Request, ApiKey Key)> AdmitAsync(GenerateRequest request, ServerCallContext context)
    {
        try
        {
            return await AdmitCoreAsync(request, context);
        }
        catch (RpcException e) when (e.StatusCode != StatusCode.Cancelled)
        {
            telemetry.Rejected(GenerationApi.ChatCompletions, "grpc", e.StatusCode switch
            {
                StatusCode.Unauthenticated => 401,
                StatusCode.PermissionDenied => 403,
                StatusCode.NotFound => 404,
                StatusCode.ResourceExhausted => 429,
                _ => 400,
            });
            throw;
        }
    }

    private async Task<(GenerationRequest Request, ApiKey Key)> AdmitCoreAsync(GenerateRequest request, ServerCallContext context)
    {
        var key = Authenticate(context);
        var generation = RequestValidator.Validate(GenerationApi.ChatCompletions, ToChatBody(request), key, catalog, "grpc", out var error);
        if (generation is null)
        {
            throw GrpcErrors.ToRpcException(error!);
        }

        if (request.TaskHint != Classifier.V1.TaskKind.Unspecified)
        {
            generation = generation with { KindHint = request.TaskHint };
        }

        var limited = await limits.AdmitAsync(key, context.CancellationToken);
        if (limited is not null)
        {
            throw GrpcErrors.ToRpcException(limited);
        }

        return (generation, key);
    }
}
