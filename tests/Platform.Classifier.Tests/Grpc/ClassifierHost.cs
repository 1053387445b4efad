using System.Net;
using System.Net.Sockets;
using Grpc.Net.Client;
using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.Hosting;
using Platform.Classifier.Grpc;

namespace Platform.Classifier.Tests.Grpc;

/// <summary>The classifier wired as Program.cs wires it, on real Kestrel sockets on free ports: http (HTTP/1.1) and grpc (h2c).</summary>
public sealed class ClassifierHost : IAsyncLifetime
{
    private WebApplication? _app;

    public Uri HttpUri { get; private set; } = null!;

    public Uri GrpcUri { get; private set; } = null!;

    public GrpcChannel Channel { get; private set; } = null!;

    public V1.Classifier.ClassifierClient Client { get; private set; } = null!;

    public async ValueTask InitializeAsync()
    {
        var builder = WebApplication.CreateBuilder(new WebApplicationOptions { EnvironmentName = "Development" });
        HttpUri = new Uri($"http://127.0.0.1:{FreePort()}");
        GrpcUri = new Uri($"http://127.0.0.1:{FreePort()}");
        builder.Configuration["Kestrel:Endpoints:http:Url"] = HttpUri.ToString();
        builder.Configuration["Kestrel:Endpoints:grpc:Url"] = GrpcUri.ToString();
        builder.AddServiceDefaults();
        builder.AddGrpcServiceDefaults();
        builder.AddClassifier();
        _app = builder.Build();
        _app.MapDefaultEndpoints();
        _app.MapGrpcService<ClassifierService>();
        _app.MapGrpcDefaultEndpoints();
        await _app.StartAsync(TestContext.Current.CancellationToken);

        Channel = GrpcChannel.ForAddress(GrpcUri);
        Client = new V1.Classifier.ClassifierClient(Channel);
    }

    private static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }

    public async ValueTask DisposeAsync()
    {
        Channel?.Dispose();
        if (_app is not null)
        {
            await _app.StopAsync();
            await _app.DisposeAsync();
        }
    }
}
