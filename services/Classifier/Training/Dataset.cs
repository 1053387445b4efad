using System.Text.Json;
using Platform.Classifier.Features;

namespace Platform.Classifier.Training;

/// <summary>One labelled conversation of the dataset.</summary>
internal sealed record LabeledPrompt(
    IReadOnlyList<(string Role, string Content)> Messages, bool IsCode, string Language, string Note, int Line)
{
    public (string System, string User) Text => PromptText.Select(Messages, m => m.Role, m => m.Content);
}

/// <summary>
/// The labelled prompts in <c>services/Classifier/data</c>: JSON lines of
/// <c>{"messages":[{"role":..,"content":..}],"label":"code"|"general","lang":"en","note":".."}</c>.
/// </summary>
internal static class Dataset
{
    public const string TrainFile = "train.jsonl";
    public const string DevFile = "dev.jsonl";
    public const string TestFile = "test.jsonl";

    public static IReadOnlyList<LabeledPrompt> Load(string path)
    {
        var prompts = new List<LabeledPrompt>();
        var lineNumber = 0;
        foreach (var line in File.ReadLines(path))
        {
            lineNumber++;
            if (string.IsNullOrWhiteSpace(line))
            {
                continue;
            }

            try
            {
                using var json = JsonDocument.Parse(line);
                var root = json.RootElement;
                var messages = root.GetProperty("messages").EnumerateArray()
                    .Select(m => (m.GetProperty("role").GetString()!, m.GetProperty("content").GetString()!))
                    .ToList();
                var label = root.GetProperty("label").GetString();
                if (label is not ("code" or "general"))
                {
                    throw new FormatException($"label must be code or general, not '{label}'");
                }

                if (messages.Count == 0 || messages.Exists(m => !PromptText.IsKnownRole(m.Item1)))
                {
                    throw new FormatException("messages must be non-empty with known roles");
                }

                prompts.Add(new LabeledPrompt(
                    messages, label == "code",
                    root.TryGetProperty("lang", out var lang) ? lang.GetString() ?? "" : "",
                    root.TryGetProperty("note", out var note) ? note.GetString() ?? "" : "",
                    lineNumber));
            }
            catch (Exception e) when (e is JsonException or KeyNotFoundException or InvalidOperationException or FormatException)
            {
                throw new FormatException($"{path}:{lineNumber}: {e.Message}", e);
            }
        }

        return prompts;
    }

    /// <summary>
    /// The dataset folder: <paramref name="explicitPath"/>, else <c>services/Classifier/data</c> found upwards from the
    /// working directory or from this assembly's folder (so the command and the tests find it from anywhere in the repo).
    /// </summary>
    public static string LocateDataDirectory(string? explicitPath = null)
    {
        if (!string.IsNullOrEmpty(explicitPath))
        {
            return Path.GetFullPath(explicitPath);
        }

        foreach (var start in new[] { Directory.GetCurrentDirectory(), AppContext.BaseDirectory })
        {
            for (var dir = new DirectoryInfo(start); dir is not null; dir = dir.Parent)
            {
                var candidate = Path.Combine(dir.FullName, "services", "Classifier", "data");
                if (File.Exists(Path.Combine(candidate, TrainFile)))
                {
                    return candidate;
                }

                if (File.Exists(Path.Combine(dir.FullName, "data", TrainFile)) && File.Exists(Path.Combine(dir.FullName, "Platform.Classifier.csproj")))
                {
                    return Path.Combine(dir.FullName, "data");
                }
            }
        }

        throw new DirectoryNotFoundException("services/Classifier/data not found above the working directory; pass --data DIR.");
    }
}
