using System.Net;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Logging;
using Platform.EngineSim.Api;
using Platform.EngineSim.Cli;
using Platform.EngineSim.Faults;

namespace Platform.EngineSim.Extensions;

/// <summary>Wiring of EngineSim's HTTP side: where it listens, its API services, and its start-up line.</summary>
internal static class EngineSimBuilderExtensions
{
    /// <summary>Aspire's endpoint variable (Kestrel__Endpoints__http__Url) as a configuration key.</summary>
    private const string AspireHttpUrlKey = "Kestrel:Endpoints:http:Url";

    /// <summary>
    /// Registers the API around an engine registered separately (<c>AddSimEngine</c>, or a test's fake).
    /// Listening: --host/--port when given; else Aspire's Kestrel__Endpoints__http__Url when set; else vLLM's
    /// default 0.0.0.0:8000.
    /// </summary>
    public static WebApplicationBuilder AddEngineSimApi(this WebApplicationBuilder builder, SimSettings settings)
    {
        builder.Services.AddSingleton(settings);
        builder.Services.TryAddSingleton(TimeProvider.System);
        builder.Services.TryAddSingleton<IProcessTerminator, EnvironmentProcessTerminator>();
        builder.Services.AddSingleton<FaultInjector>();
        builder.Services.AddSingleton<RequestPlanner>();
        builder.Services.AddSingleton<GenerationResponder>();
        builder.Services.AddHostedService<ReadyAnnouncer>();

        // Per-request framework logs at Information would cost more than the simulated engine at 2,000 streams.
        builder.Logging.AddFilter("Microsoft.AspNetCore", LogLevel.Warning);
        builder.Logging.AddFilter("Microsoft.Hosting.Lifetime", LogLevel.Warning);

        var useCommandLine = settings.ListenAddressExplicit || string.IsNullOrEmpty(builder.Configuration[AspireHttpUrlKey]);
        builder.WebHost.ConfigureKestrel(kestrel =>
        {
            kestrel.AddServerHeader = false;
            kestrel.Limits.MaxRequestBodySize = settings.MaxRequestBodyBytes;
            if (useCommandLine)
            {
                // Replace the Kestrel section loaded by ServiceDefaults so only the command line's address is bound.
                kestrel.Configure(new ConfigurationBuilder().Build(), reloadOnChange: false);
                Listen(kestrel, settings.Engine.Host, settings.Engine.Port);
            }
        });
        return builder;
    }

    private static void Listen(KestrelServerOptions kestrel, string host, int port)
    {
        // HTTP/1.1, as uvicorn serves vLLM (and as the "http" endpoint of ServiceDefaults is).
        static void Protocols(ListenOptions listen) => listen.Protocols = HttpProtocols.Http1;

        switch (host)
        {
            case "" or "0.0.0.0" or "*" or "+":
                kestrel.ListenAnyIP(port, Protocols);
                break;
            case "localhost":
                kestrel.ListenLocalhost(port, Protocols);
                break;
            default:
                var address = IPAddress.TryParse(host.Trim('[', ']'), out var ip) ? ip : Dns.GetHostAddresses(host)[0];
                kestrel.Listen(address, port, Protocols);
                break;
        }
    }
}
