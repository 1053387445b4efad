using System.Text.Json.Serialization;

namespace Platform.Fleet.State;

[JsonSerializable(typeof(EngineHealthEntry))]
[JsonSourceGenerationOptions(PropertyNamingPolicy = JsonKnownNamingPolicy.CamelCase)]
internal sealed partial class FleetJsonContext : JsonSerializerContext;
