using Microsoft.Extensions.AI;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Platform.Client;

namespace Microsoft.Extensions.Hosting;

public static class PlatformClientExtensions
{
    /// <summary>
    /// Registers <see cref="PlatformInferenceClient"/> and <see cref="IChatClient"/> (<see cref="PlatformChatClient"/>)
    /// for the gateway at <paramref name="address"/> (its gRPC endpoint, h2c), sending <paramref name="apiKey"/> on
    /// every call. The gRPC client has no resilience handler: a total timeout would cut long generations and a retry
    /// would replay tokens; bound calls with deadlines instead.
    /// </summary>
    public static IHttpClientBuilder AddPlatformInferenceClient(this IServiceCollection services, Uri address, string apiKey, string? defaultModel = null)
    {
        ArgumentNullException.ThrowIfNull(address);
        ArgumentException.ThrowIfNullOrWhiteSpace(apiKey);
        var builder = services.AddGrpcClient<Platform.Inference.V1.Inference.InferenceClient>(o => o.Address = address);
#pragma warning disable EXTEXP0001 // RemoveAllResilienceHandlers is experimental; removing them is exactly the intent.
        builder.RemoveAllResilienceHandlers();
#pragma warning restore EXTEXP0001
        services.TryAddTransient(sp => new PlatformInferenceClient(sp.GetRequiredService<Platform.Inference.V1.Inference.InferenceClient>(), apiKey));
        services.TryAddTransient<IChatClient>(sp => new PlatformChatClient(sp.GetRequiredService<PlatformInferenceClient>(), defaultModel, address));
        return builder;
    }

    /// <summary>
    /// The same, by service-discovery name (e.g. "gateway"): resolves the service's "grpc" endpoint
    /// (<c>http://_grpc.gateway</c>, from <c>services__gateway__grpc__0</c> under the AppHost or Aspire, cluster DNS in Kubernetes).
    /// Needs service discovery on the HTTP clients (ServiceDefaults' AddServiceDefaults does that).
    /// </summary>
    public static IHttpClientBuilder AddPlatformInferenceClient(this IServiceCollection services, string serviceName, string apiKey, string? defaultModel = null)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(serviceName);
        return services.AddPlatformInferenceClient(new Uri($"http://_grpc.{serviceName}"), apiKey, defaultModel);
    }
}
