using Platform.Classifier.Grpc;
using Platform.Classifier.Model;
using Platform.Classifier.Training;

// `train`, `eval` and `explain` are tools (see README); anything else runs the service.
if (ClassifierCommands.TryRun(args, out var exitCode))
{
    return exitCode;
}

var builder = WebApplication.CreateBuilder(args);

builder.AddServiceDefaults();
builder.AddGrpcServiceDefaults();
builder.AddClassifier();

var app = builder.Build();

// A model that cannot be read stops the process at start, not at the first request.
_ = app.Services.GetRequiredService<TaskClassifier>();

app.MapDefaultEndpoints();
app.MapGrpcService<ClassifierService>();
app.MapGrpcDefaultEndpoints();

app.Run();
return 0;

public partial class Program;
