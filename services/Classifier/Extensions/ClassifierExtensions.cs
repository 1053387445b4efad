using Grpc.AspNetCore.Server;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Platform.Classifier.Grpc;
using Platform.Classifier.Model;
using Platform.Classifier.Telemetry;

namespace Microsoft.Extensions.Hosting;

/// <summary>Wiring of the classifier: the shipped model (loaded once, at start), the classifier and its metrics.</summary>
internal static class ClassifierExtensions
{
    /// <summary>Largest request ClassifyBatch accepts: 64 MiB.</summary>
    public const int MaxBatchMessageBytes = 64 * 1024 * 1024;

    public static TBuilder AddClassifier<TBuilder>(this TBuilder builder) where TBuilder : IHostApplicationBuilder
    {
        builder.Services.AddMetrics();

        // A full batch is 1,024 conversations of any length (only prefixes are read): gRPC's 4 MB default is too small.
        builder.Services.Configure<GrpcServiceOptions<ClassifierService>>(o => o.MaxReceiveMessageSize = MaxBatchMessageBytes);
        builder.Services.TryAddSingleton(_ => ClassifierModel.Default);
        builder.Services.TryAddSingleton<TaskClassifier>();
        builder.Services.TryAddSingleton<ClassifierMetrics>();
        return builder;
    }
}
