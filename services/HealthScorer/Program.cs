using Platform.HealthScorer.Grpc;

var builder = WebApplication.CreateBuilder(args);

builder.AddServiceDefaults();
builder.AddGrpcServiceDefaults();
builder.AddFleetCatalog();
builder.AddFleetState();
builder.AddHealthScorer();

var app = builder.Build();

app.MapDefaultEndpoints();
app.MapGrpcService<HealthScorerService>();
app.MapGrpcDefaultEndpoints();

app.Run();
