using System.Text.Json.Serialization;

namespace Platform.Fleet.State;

// Health entries carry NaN for figures a source does not know (the gateway's scraper has no TTFT percentile);
// JSON has no NaN, so they travel as the string "NaN" instead of failing the whole publish.
[JsonSerializable(typeof(EngineHealthEntry))]
[JsonSourceGenerationOptions(PropertyNamingPolicy = JsonKnownNamingPolicy.CamelCase, NumberHandling = JsonNumberHandling.AllowNamedFloatingPointLiterals)]
internal sealed partial class FleetJsonContext : JsonSerializerContext;
