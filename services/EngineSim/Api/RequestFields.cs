using System.Text.Json;

namespace Platform.EngineSim.Api;

/// <summary>
/// Typed reads of a request body's fields with pydantic's lax rules (null means "not given", 3.0 is an
/// integer, a wrongly typed value is a 400 naming the field). Unknown fields are never an error.
/// </summary>
internal readonly struct RequestFields(JsonElement root)
{
    public JsonElement Root => root;

    public bool Has(string name) => root.TryGetProperty(name, out var v) && v.ValueKind != JsonValueKind.Null;

    public bool TryGet(string name, out JsonElement value) =>
        root.TryGetProperty(name, out value) && value.ValueKind != JsonValueKind.Null;

    public string? String(string name)
    {
        if (!TryGet(name, out var v))
        {
            return null;
        }

        return v.ValueKind == JsonValueKind.String
            ? v.GetString()
            : throw OpenAiException.Field(name, "string_type", "Input should be a valid string", Repr(v));
    }

    public bool Bool(string name, bool defaultValue)
    {
        if (!TryGet(name, out var v))
        {
            return defaultValue;
        }

        return v.ValueKind switch
        {
            JsonValueKind.True => true,
            JsonValueKind.False => false,
            JsonValueKind.Number when v.TryGetInt32(out var i) && i is 0 or 1 => i == 1,
            JsonValueKind.String when v.GetString() is "true" or "True" or "1" => true,
            JsonValueKind.String when v.GetString() is "false" or "False" or "0" => false,
            _ => throw OpenAiException.Field(name, "bool_parsing", "Input should be a valid boolean", Repr(v)),
        };
    }

    public long? Long(string name)
    {
        if (!TryGet(name, out var v))
        {
            return null;
        }

        if (v.ValueKind == JsonValueKind.Number)
        {
            if (v.TryGetInt64(out var l))
            {
                return l;
            }

            if (v.TryGetDouble(out var d) && d == Math.Floor(d) && Math.Abs(d) < 9.2e18)
            {
                return (long)d;
            }

            throw OpenAiException.Field(name, "int_from_float", "Input should be a valid integer, got a number with a fractional part", Repr(v));
        }

        throw OpenAiException.Field(name, "int_type", "Input should be a valid integer", Repr(v));
    }

    public int? Int(string name)
    {
        var l = Long(name);
        return l switch
        {
            null => null,
            >= int.MinValue and <= int.MaxValue => (int)l.Value,
            _ => throw OpenAiException.Field(name, "int_type", "Input should be a valid integer, out of range", l.Value.ToString(System.Globalization.CultureInfo.InvariantCulture)),
        };
    }

    public double? Double(string name)
    {
        if (!TryGet(name, out var v))
        {
            return null;
        }

        return v.ValueKind == JsonValueKind.Number && v.TryGetDouble(out var d)
            ? d
            : throw OpenAiException.Field(name, "float_type", "Input should be a valid number", Repr(v));
    }

    /// <summary>A string or a list of strings (OpenAI's "stop").</summary>
    public IReadOnlyList<string> StringOrList(string name)
    {
        if (!TryGet(name, out var v))
        {
            return [];
        }

        if (v.ValueKind == JsonValueKind.String)
        {
            return [v.GetString()!];
        }

        if (v.ValueKind == JsonValueKind.Array)
        {
            var list = new List<string>(v.GetArrayLength());
            foreach (var item in v.EnumerateArray())
            {
                if (item.ValueKind != JsonValueKind.String)
                {
                    throw OpenAiException.Field(name, "string_type", "Input should be a valid string", Repr(item));
                }

                list.Add(item.GetString()!);
            }

            return list;
        }

        throw OpenAiException.Field(name, "list_type", "Input should be a valid list", Repr(v));
    }

    /// <summary>A short Python-like rendering of the offending value (never the whole body: it may be a prompt).</summary>
    public static string Repr(JsonElement value)
    {
        var text = value.ValueKind switch
        {
            JsonValueKind.String => $"'{value.GetString()}'",
            JsonValueKind.True => "True",
            JsonValueKind.False => "False",
            JsonValueKind.Null => "None",
            JsonValueKind.Object => "{...}",
            JsonValueKind.Array => "[...]",
            _ => value.GetRawText(),
        };
        return text.Length > 40 ? text[..40] + "..." : text;
    }
}
