using Microsoft.Extensions.DependencyInjection.Extensions;
using Platform.Classifier.Model;
using Platform.Classifier.Telemetry;

namespace Microsoft.Extensions.Hosting;

/// <summary>Wiring of the classifier: the shipped model (loaded once, at start), the classifier and its metrics.</summary>
internal static class ClassifierExtensions
{
    public static TBuilder AddClassifier<TBuilder>(this TBuilder builder) where TBuilder : IHostApplicationBuilder
    {
        builder.Services.AddMetrics();
        builder.Services.TryAddSingleton(_ => ClassifierModel.Default);
        builder.Services.TryAddSingleton<TaskClassifier>();
        builder.Services.TryAddSingleton<ClassifierMetrics>();
        return builder;
    }
}
