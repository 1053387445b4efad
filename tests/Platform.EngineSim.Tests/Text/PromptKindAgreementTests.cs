using System.Text;
using System.Text.Json;
using Platform.EngineSim.Api;
using Platform.EngineSim.Engine;
using Platform.EngineSim.Text;

namespace Platform.EngineSim.Tests.Text;

/// <summary>
/// EngineSim's prompt kind is the simulator's ground truth for speculative acceptance: it must agree with the labels
/// of the platform's own dataset (services/Classifier/data: is the ideal answer code?), or routing code prompts to the
/// code-tuned draft would not be rewarded in simulation. Measured on all 808 prompts, rendered through the chat
/// template as the engine sees them. (The rules were written against this dataset: this bounds how far the simulator's
/// truth and the platform's labels differ, it is not an estimate on unseen prompts.)
/// </summary>
public sealed class PromptKindAgreementTests
{
    [Fact]
    public void Classify_HeldOutDataset_AgreesWithTheLabels()
    {
        var total = 0;
        var agree = 0;
        var misses = new StringBuilder();
        foreach (var file in new[] { "train.jsonl", "dev.jsonl", "test.jsonl" })
        {
            foreach (var line in File.ReadLines(Path.Combine(DataDirectory(), file)).Where(l => !string.IsNullOrWhiteSpace(l)))
            {
                using var json = JsonDocument.Parse(line);
                var messages = json.RootElement.GetProperty("messages").EnumerateArray()
                    .Select(m => new ChatMessage(m.GetProperty("role").GetString()!, m.GetProperty("content").GetString()!))
                    .ToList();
                var label = json.RootElement.GetProperty("label").GetString() == "code" ? PromptKind.Code : PromptKind.General;
                var kind = PromptClassifier.Classify(ChatTemplate.Render(messages, addGenerationPrompt: true, continueFinalMessage: false));
                total++;
                if (kind == label)
                {
                    agree++;
                }
                else
                {
                    misses.AppendLine($"{label}: {messages[^1].Content[..Math.Min(100, messages[^1].Content.Length)].ReplaceLineEndings(" ")}");
                }
            }
        }

        var agreement = (double)agree / total;
        Assert.True(agreement >= 0.90, $"{agree} of {total} ({agreement:P1}) agree; misses:\n{misses}");
    }

    private static string DataDirectory()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            var data = Path.Combine(dir.FullName, "services", "Classifier", "data");
            if (Directory.Exists(data))
            {
                return data;
            }
        }

        throw new DirectoryNotFoundException("services/Classifier/data above " + AppContext.BaseDirectory);
    }
}
