using Platform.Classifier.Model;
using Platform.Classifier.Training;

namespace Platform.Classifier.Tests.Training;

public sealed class TrainerTests
{
    private static readonly string Data = Dataset.LocateDataDirectory();

    [Fact]
    public void Train_SameData_SameFileByteForByte()
    {
        var prompts = Dataset.Load(Path.Combine(Data, Dataset.TrainFile)).Take(150).ToList();
        var options = new TrainingOptions { Iterations = 200, WordL2Candidates = [0.003], NamedL2Candidates = [0.001, 0.003] };

        var first = Trainer.Train(prompts, options);
        var second = Trainer.Train(prompts, options);

        Assert.Equal(first.WeightsFile, second.WeightsFile);
        Assert.InRange(first.Temperature, 0.25, 4);
    }

    [Fact]
    public void Train_CheckedInData_ReproducesTheShippedWeights()
    {
        var prompts = Dataset.Load(Path.Combine(Data, Dataset.TrainFile));
        using var shipped = typeof(ClassifierModel).Assembly.GetManifestResourceStream(ClassifierModel.ResourceName)!;
        using var reader = new StreamReader(shipped);

        var trained = Trainer.Train(prompts);

        Assert.True(reader.ReadToEnd() == trained.WeightsFile, "Model/weights.tsv is not what the train command makes of data/train.jsonl: run it and commit the result.");
    }

    [Fact]
    public void Train_Output_IsAValidModelWithEveryWeightNamed()
    {
        var prompts = Dataset.Load(Path.Combine(Data, Dataset.TrainFile)).Take(80).ToList();
        var result = Trainer.Train(prompts, new TrainingOptions { Iterations = 100, WordL2Candidates = [0.01], NamedL2Candidates = [0.01], Folds = 2 });

        var model = ClassifierModel.Parse(new StringReader(result.WeightsFile));

        Assert.True(model.FeatureCount > 20);
        Assert.Contains("bias", model.Names);
        Assert.Contains(model.Header, h => h.StartsWith("trained on 80 prompts", StringComparison.Ordinal));
    }
}
