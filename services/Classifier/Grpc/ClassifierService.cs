using System.Diagnostics;
using Grpc.Core;
using Platform.Classifier.Features;
using Platform.Classifier.Model;
using Platform.Classifier.Telemetry;
using Platform.Classifier.V1;

namespace Platform.Classifier.Grpc;

/// <summary>
/// <c>platform.classifier.v1.Classifier</c>: validates the request (INVALID_ARGUMENT names the first bad field),
/// classifies synchronously on the calling thread (microseconds: no point in going async) and reports the strongest
/// features by name.
/// </summary>
internal sealed class ClassifierService(TaskClassifier classifier, ClassifierMetrics metrics) : V1.Classifier.ClassifierBase
{
    /// <summary>Largest batch ClassifyBatch accepts.</summary>
    public const int MaxBatch = 1024;

    public override Task<ClassifyResponse> Classify(ClassifyRequest request, ServerCallContext context)
    {
        if (Validate(request, "") is { } error)
        {
            throw new RpcException(new Status(StatusCode.InvalidArgument, error));
        }

        return Task.FromResult(Classify(request));
    }

    public override Task<ClassifyBatchResponse> ClassifyBatch(ClassifyBatchRequest request, ServerCallContext context)
    {
        if (request.Requests.Count is 0 or > MaxBatch)
        {
            throw new RpcException(new Status(StatusCode.InvalidArgument, $"requests must hold 1 to {MaxBatch} conversations, not {request.Requests.Count}."));
        }

        for (var i = 0; i < request.Requests.Count; i++)
        {
            if (Validate(request.Requests[i], $"requests[{i}].") is { } error)
            {
                throw new RpcException(new Status(StatusCode.InvalidArgument, error));
            }
        }

        var response = new ClassifyBatchResponse();
        foreach (var conversation in request.Requests)
        {
            response.Responses.Add(Classify(conversation));
        }

        return Task.FromResult(response);
    }

    private static string? Validate(ClassifyRequest request, string path)
    {
        if (request.Messages.Count == 0)
        {
            return $"{path}messages must hold at least one message.";
        }

        for (var i = 0; i < request.Messages.Count; i++)
        {
            var role = request.Messages[i].Role;
            if (!PromptText.IsKnownRole(role))
            {
                var shown = role.Length > 32 ? role[..32] + "..." : role;
                return $"{path}messages[{i}].role '{shown}' is not one of system, developer, user, assistant, tool.";
            }
        }

        return null;
    }

    private ClassifyResponse Classify(ClassifyRequest request)
    {
        var start = Stopwatch.GetTimestamp();
        var (system, user) = PromptText.Select(request.Messages, static m => m.Role, static m => m.Content);
        Span<FeatureContribution> strongest = stackalloc FeatureContribution[TaskClassifier.ReportedFeatures];
        var decision = classifier.Classify(system, user, strongest, out var count);
        var elapsed = Stopwatch.GetElapsedTime(start);

        var response = new ClassifyResponse
        {
            Kind = decision.IsCode ? TaskKind.Code : TaskKind.General,
            Confidence = decision.Confidence,
            ElapsedMicroseconds = elapsed.TotalMicroseconds,
        };
        var model = classifier.Model;
        for (var i = 0; i < count; i++)
        {
            response.Features.Add(new Feature { Name = model.Name(strongest[i].Feature), Weight = strongest[i].Weight });
        }

        metrics.Decided(decision.IsCode, elapsed.TotalSeconds);
        return response;
    }
}
