using Grpc.Core;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Platform.Classifier.V1;

namespace Platform.ServiceDefaults.Tests;

/// <summary>
/// A service built the way every Platform service is: AddServiceDefaults, gRPC defaults, Kestrel endpoints
/// named "http" and "grpc" given only as URLs (Aspire's Kestrel__Endpoints__*__Url contract), on dynamic ports.
/// </summary>
internal sealed class TestServer : IAsyncDisposable
{
    private readonly WebApplication _app;

    private TestServer(WebApplication app, Uri http, Uri grpc)
    {
        _app = app;
        HttpUri = http;
        GrpcUri = grpc;
    }

    public Uri HttpUri { get; }

    public Uri GrpcUri { get; }

    public IServiceProvider Services => _app.Services;

    public static async Task<TestServer> StartAsync(
        Action<WebApplicationBuilder>? configure = null,
        Action<WebApplication>? map = null)
    {
        var builder = WebApplication.CreateBuilder(new WebApplicationOptions { EnvironmentName = "Development" });
        builder.Configuration.AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["Kestrel:Endpoints:http:Url"] = "http://127.0.0.1:0",
            ["Kestrel:Endpoints:grpc:Url"] = "http://127.0.0.1:0",
        });
        builder.AddServiceDefaults();
        builder.AddGrpcServiceDefaults();
        configure?.Invoke(builder);

        var app = builder.Build();
        app.MapDefaultEndpoints();
        app.MapGrpcDefaultEndpoints();
        app.MapGrpcService<KeywordClassifier>();
        map?.Invoke(app);
        await app.StartAsync(TestContext.Current.CancellationToken);

        // The addresses feature does not say which endpoint is which: the HTTP/1.1 one answers an HTTP/1.1 request.
        var addresses = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!
            .Addresses.Select(a => new Uri(a)).ToArray();
        Assert.Equal(2, addresses.Length);
        using var probe = new HttpClient();
        using var first = await probe.GetAsync(new Uri(addresses[0], "/alive"), TestContext.Current.CancellationToken);
        return first.IsSuccessStatusCode
            ? new TestServer(app, addresses[0], addresses[1])
            : new TestServer(app, addresses[1], addresses[0]);
    }

    public async ValueTask DisposeAsync()
    {
        await _app.StopAsync(CancellationToken.None);
        await _app.DisposeAsync();
    }

    /// <summary>A minimal implementation of the classifier contract, enough to exercise the gRPC stack.</summary>
    private sealed class KeywordClassifier : Classifier.V1.Classifier.ClassifierBase
    {
        public override Task<ClassifyResponse> Classify(ClassifyRequest request, ServerCallContext context)
        {
            if (request.Messages.Count == 0)
            {
                throw new RpcException(new Status(StatusCode.InvalidArgument, "messages must not be empty"));
            }

            var code = request.Messages[^1].Content.Contains("def ", StringComparison.Ordinal);
            return Task.FromResult(new ClassifyResponse
            {
                Kind = code ? TaskKind.Code : TaskKind.General,
                Confidence = 0.9,
            });
        }
    }
}
