using Platform.Watchdog.Grpc;

var builder = WebApplication.CreateBuilder(args);

builder.AddServiceDefaults();
builder.AddGrpcServiceDefaults();
builder.AddFleetCatalog();
builder.AddFleetState();
builder.AddWatchdog();

var app = builder.Build();

app.MapDefaultEndpoints();
app.MapGrpcService<WatchdogService>();
app.MapGrpcDefaultEndpoints();

app.Run();
