using Platform.EngineSim.Cli;
using Platform.EngineSim.Engine;
using Platform.EngineSim.Extensions;

// `dotnet run --project services/EngineSim -- --model NAME [vLLM flags] [--sim-* flags]`: a drop-in for `vllm serve`.
var settings = SimCommandLine.ParseOrExit(args);

// The command line is vLLM's, not ASP.NET's: it is not handed to the configuration system.
var builder = WebApplication.CreateSlimBuilder(new WebApplicationOptions { Args = [] });
builder.AddServiceDefaults();
builder.Services.AddSimEngine(settings.Engine, settings.Faults);
builder.AddEngineSimApi(settings);

var app = builder.Build();
app.MapEngineSimEndpoints();
app.Run();
