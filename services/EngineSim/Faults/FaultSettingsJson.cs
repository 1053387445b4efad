using System.Text.Json;

namespace Platform.EngineSim.Faults;

/// <summary>
/// The JSON form of <see cref="FaultSettings"/> for /admin/faults: camelCase fields, absent fields take their
/// "no fault" default (a POST replaces the whole set), unknown fields and wrongly typed values are rejected
/// with the field named.
/// </summary>
internal static class FaultSettingsJson
{
    /// <summary>Reads a settings object; throws <see cref="FormatException"/> naming the offending field.</summary>
    public static FaultSettings Read(JsonElement root)
    {
        if (root.ValueKind != JsonValueKind.Object)
        {
            throw new FormatException($"Expected a JSON object of fault settings, got {root.ValueKind}.");
        }

        var settings = new FaultSettings();
        foreach (var property in root.EnumerateObject())
        {
            var value = property.Value;
            settings = property.Name switch
            {
                "errorRate" => settings with { ErrorRate = Number(property) },
                "errorStatus" => settings with { ErrorStatus = Integer(property) },
                "latencySpikeMs" => settings with { LatencySpikeMs = Number(property) },
                "latencySpikeRate" => settings with { LatencySpikeRate = Number(property) },
                "slowdown" => settings with { Slowdown = Number(property) },
                "hang" => settings with { Hang = Boolean(property) },
                "crashAfterTokens" => settings with { CrashAfterTokens = value.ValueKind == JsonValueKind.Null ? null : Integer(property) },
                "kvDrift" => settings with { KvDrift = Number(property) },
                "lieHealth" => settings with { LieHealth = Boolean(property) },
                _ => throw new FormatException($"Unknown field '{property.Name}'."),
            };
        }

        return settings;
    }

    public static void Write(Utf8JsonWriter writer, FaultSettings settings)
    {
        writer.WriteStartObject();
        writer.WriteNumber("errorRate"u8, settings.ErrorRate);
        writer.WriteNumber("errorStatus"u8, settings.ErrorStatus);
        writer.WriteNumber("latencySpikeMs"u8, settings.LatencySpikeMs);
        writer.WriteNumber("latencySpikeRate"u8, settings.LatencySpikeRate);
        writer.WriteNumber("slowdown"u8, settings.Slowdown);
        writer.WriteBoolean("hang"u8, settings.Hang);
        if (settings.CrashAfterTokens is { } crash)
        {
            writer.WriteNumber("crashAfterTokens"u8, crash);
        }
        else
        {
            writer.WriteNull("crashAfterTokens"u8);
        }

        writer.WriteNumber("kvDrift"u8, settings.KvDrift);
        writer.WriteBoolean("lieHealth"u8, settings.LieHealth);
        writer.WriteEndObject();
    }

    private static double Number(JsonProperty property) =>
        property.Value.ValueKind == JsonValueKind.Number && property.Value.TryGetDouble(out var d)
            ? d
            : throw new FormatException($"Field '{property.Name}' must be a number, got {property.Value.GetRawText()}.");

    private static int Integer(JsonProperty property)
    {
        if (property.Value.ValueKind == JsonValueKind.Number)
        {
            if (property.Value.TryGetInt32(out var i))
            {
                return i;
            }

            if (property.Value.TryGetDouble(out var d) && d == Math.Floor(d) && d is >= int.MinValue and <= int.MaxValue)
            {
                return (int)d;
            }
        }

        throw new FormatException($"Field '{property.Name}' must be an integer, got {property.Value.GetRawText()}.");
    }

    private static bool Boolean(JsonProperty property) => property.Value.ValueKind switch
    {
        JsonValueKind.True => true,
        JsonValueKind.False => false,
        _ => throw new FormatException($"Field '{property.Name}' must be true or false, got {property.Value.GetRawText()}."),
    };
}
