namespace Platform.EngineSim.Faults;

/// <summary>One invalid field of a <see cref="FaultSettings"/>: its JSON name and what is wrong with it.</summary>
internal readonly record struct FaultSettingsError(string Field, string Message);

/// <summary>
/// The rules for <see cref="FaultSettings"/>, shared by the command line (--sim-* flags) and
/// POST /admin/faults so both reject the same values with the same words.
/// </summary>
internal static class FaultSettingsValidator
{
    /// <summary>Every broken rule, in field order; empty when the settings are usable.</summary>
    public static IReadOnlyList<FaultSettingsError> Validate(FaultSettings settings)
    {
        var errors = new List<FaultSettingsError>();
        Probability(errors, "errorRate", settings.ErrorRate);
        if (settings.ErrorStatus is < 400 or > 599)
        {
            errors.Add(new("errorStatus", $"must be an HTTP error status in [400, 599], got {settings.ErrorStatus}"));
        }

        NonNegative(errors, "latencySpikeMs", settings.LatencySpikeMs);
        Probability(errors, "latencySpikeRate", settings.LatencySpikeRate);
        if (!double.IsFinite(settings.Slowdown) || settings.Slowdown < 1.0)
        {
            errors.Add(new("slowdown", $"must be a factor of at least 1, got {Format(settings.Slowdown)}"));
        }

        if (settings.CrashAfterTokens is < 1)
        {
            errors.Add(new("crashAfterTokens", $"must be at least 1 when set, got {settings.CrashAfterTokens}"));
        }

        NonNegative(errors, "kvDrift", settings.KvDrift);
        return errors;
    }

    private static void Probability(List<FaultSettingsError> errors, string field, double value)
    {
        if (!double.IsFinite(value) || value is < 0.0 or > 1.0)
        {
            errors.Add(new(field, $"must be a probability in [0, 1], got {Format(value)}"));
        }
    }

    private static void NonNegative(List<FaultSettingsError> errors, string field, double value)
    {
        if (!double.IsFinite(value) || value < 0.0)
        {
            errors.Add(new(field, $"must be a non-negative number, got {Format(value)}"));
        }
    }

    private static string Format(double value) => value.ToString(System.Globalization.CultureInfo.InvariantCulture);
}
