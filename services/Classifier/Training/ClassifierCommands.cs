using Platform.Classifier.Model;

namespace Platform.Classifier.Training;

/// <summary>
/// The service's tool commands, run instead of the server when the first argument names one:
/// <c>train</c> (writes Model/weights.tsv from data/train.jsonl and evaluates it), <c>eval</c> (the shipped model on
/// train and dev), <c>explain TEXT [--system TEXT]</c> (the decision and every feature for one user message).
/// </summary>
internal static class ClassifierCommands
{
    public static bool TryRun(string[] args, out int exitCode)
    {
        exitCode = 0;
        if (args.Length == 0 || args[0] is not ("train" or "eval" or "explain"))
        {
            return false;
        }

        try
        {
            exitCode = args[0] switch
            {
                "train" => Train(Option(args, "--data"), Option(args, "--out")),
                "eval" => Eval(Option(args, "--data")),
                _ => Explain(args.Length > 1 ? args[1] : string.Empty, Option(args, "--system")),
            };
        }
        catch (Exception e) when (e is IOException or FormatException or UnauthorizedAccessException)
        {
            Console.Error.WriteLine(e.Message);
            exitCode = 1;
        }

        return true;
    }

    private static int Train(string? data, string? output)
    {
        var directory = Dataset.LocateDataDirectory(data);
        var train = Dataset.Load(Path.Combine(directory, Dataset.TrainFile));
        var watch = System.Diagnostics.Stopwatch.StartNew();
        var result = Trainer.Train(train);
        Console.WriteLine($"trained in {watch.Elapsed.TotalSeconds:F1} s; out-of-fold misses on the training set:");
        foreach (var (prompt, p) in result.CrossValidationMisses)
        {
            var user = prompt.Text.User.ReplaceLineEndings(" ");
            Console.WriteLine($"  line {prompt.Line}: label {(prompt.IsCode ? "code" : "general")}, p(code) {p:F2}: {user[..Math.Min(90, user.Length)]} [{prompt.Note}]");
        }

        var path = output ?? Path.GetFullPath(Path.Combine(directory, "..", "Model", "weights.tsv"));
        File.WriteAllText(path, result.WeightsFile);
        Console.WriteLine($"wrote {path}: {result.Features} features, l2 {result.WordL2} (words) {result.NamedL2} (named), temperature {result.Temperature:F2}, cross-validation accuracy {result.CrossValidationAccuracy:P1}");

        using var reader = new StringReader(result.WeightsFile);
        Report(new TaskClassifier(ClassifierModel.Parse(reader)), directory, train);
        return 0;
    }

    private static int Eval(string? data)
    {
        var directory = Dataset.LocateDataDirectory(data);
        Report(new TaskClassifier(ClassifierModel.Default), directory, Dataset.Load(Path.Combine(directory, Dataset.TrainFile)));
        return 0;
    }

    private static void Report(TaskClassifier classifier, string directory, IReadOnlyList<LabeledPrompt> train)
    {
        Console.Write(Evaluation.Format("train", Evaluation.Evaluate(classifier, train), listErrors: false));
        Console.Write(Evaluation.Format("dev", Evaluation.Evaluate(classifier, Dataset.Load(Path.Combine(directory, Dataset.DevFile))), listErrors: true));
        Console.Write(Evaluation.Format("test", Evaluation.Evaluate(classifier, Dataset.Load(Path.Combine(directory, Dataset.TestFile))), listErrors: true));
    }

    private static int Explain(string user, string? system)
    {
        var (decision, features) = new TaskClassifier(ClassifierModel.Default).Explain(system ?? string.Empty, user);
        Console.WriteLine($"{(decision.IsCode ? "code" : "general")} (confidence {decision.Confidence:F3})");
        foreach (var (name, weight) in features)
        {
            Console.WriteLine($"  {weight,8:+0.0000;-0.0000}  {name}");
        }

        return 0;
    }

    private static string? Option(string[] args, string name)
    {
        var i = Array.IndexOf(args, name);
        return i >= 0 && i + 1 < args.Length ? args[i + 1] : null;
    }
}
