using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.DependencyInjection;
using Platform.EngineSim.Api;
using Platform.EngineSim.Cli;
using Platform.EngineSim.Faults;

namespace Platform.EngineSim.Extensions;

/// <summary>EngineSim's endpoints: vLLM's server endpoints, the OpenAI API behind the API key, and /admin/faults.</summary>
internal static class EngineSimEndpointExtensions
{
    public static WebApplication MapEngineSimEndpoints(this WebApplication app)
    {
        if (app.Services.GetRequiredService<SimSettings>().Engine.ApiKey is { } apiKey)
        {
            app.UseMiddleware<ApiKeyMiddleware>(apiKey);
        }

        app.MapServerApi();
        app.MapOpenAiApi();
        app.MapFaultsApi();
        return app;
    }
}
