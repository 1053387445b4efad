using Platform.Gateway.Admin;
using Platform.Gateway.Api;
using Platform.Gateway.Grpc;

var builder = WebApplication.CreateBuilder(args);

// Before anything makes a socket: the runtime reads its inline-completions switch once (Gateway:Http:InlineIo).
GatewayHttpOptions.ApplyInlineIo(builder);

builder.AddServiceDefaults();
builder.AddGrpcServiceDefaults();
builder.AddFleetCatalog();
builder.AddFleetState();
builder.AddFleetRateLimiter();
builder.AddGatewayFrontEnd();
builder.AddGatewayEngineSide();

var app = builder.Build();

app.UseOpenAiErrors();
app.MapDefaultEndpoints();
app.MapOpenAiApi();
app.MapAdminApi();
app.MapGrpcService<InferenceService>();
app.MapGrpcDefaultEndpoints();

app.Run();

public partial class Program;
