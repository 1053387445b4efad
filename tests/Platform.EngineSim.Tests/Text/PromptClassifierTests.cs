using Platform.EngineSim.Engine;
using Platform.EngineSim.Tests.Engine;
using Platform.EngineSim.Text;

namespace Platform.EngineSim.Tests.Text;

public sealed class PromptClassifierTests
{
    [Theory]
    [InlineData("Write a function that reverses a linked list.")]
    [InlineData("Can you write a regex that matches ISO dates?")]
    [InlineData("Here is my code:\n```\nfor i in range(10): print(i)\n```\nWhy does it fail?")]
    [InlineData("public static void Main() { Console.WriteLine(\"hi\"); }")]
    [InlineData("SELECT name FROM users WHERE id = 1; -- make this faster")]
    [InlineData("<|start_header_id|>user<|end_header_id|>\n\nImplement quicksort in Rust.<|eot_id|>")]
    public void Classify_CodeAsks_AreCode(string prompt) => Assert.Equal(PromptKind.Code, PromptClassifier.Classify(prompt));

    [Theory]
    [InlineData("Tell me about the history of lighthouses.")]
    [InlineData("What should I cook for a dinner party of eight?")]
    [InlineData("<|start_header_id|>system<|end_header_id|>\n\nYou are a helpful assistant.<|eot_id|><|start_header_id|>user<|end_header_id|>\n\nWhy is the sky blue?<|eot_id|>")]
    [InlineData("Summarize the main arguments from the article about climate policy in Europe.")]
    [InlineData("")]
    public void Classify_ProseAsks_AreGeneral(string prompt) => Assert.Equal(PromptKind.General, PromptClassifier.Classify(prompt));

    [Fact]
    public void Classify_SpeculativeTestPrompts_MatchTheirIntendedKind()
    {
        Assert.All(SpeculativeDecodingTests.CodePrompts, p => Assert.Equal(PromptKind.Code, PromptClassifier.Classify(p)));
        Assert.All(SpeculativeDecodingTests.ProsePrompts, p => Assert.Equal(PromptKind.General, PromptClassifier.Classify(p)));
    }

    [Theory]
    [InlineData("Write a SQL query for monthly revenue", "sql")]
    [InlineData("Implement this in Rust please", "rust")]
    [InlineData("A bash script to rotate logs", "bash")]
    [InlineData("Write a function", null)]
    public void RequestedLanguage_NamedInPrompt_IsFound(string prompt, string? language) =>
        Assert.Equal(language, PromptClassifier.RequestedLanguage(prompt));

    [Fact]
    public void SimTokenizer_EncodeDecode_RoundTripsAndCountsMatch()
    {
        var tokenizer = EngineHarness.Tokenizer;
        const string text = "The quick brown fox jumps over the lazy dog. def f(x): return x * 2";
        var ids = tokenizer.Encode(text);
        Assert.Equal(ids.Length, tokenizer.CountTokens(text));
        Assert.Equal(text, tokenizer.Decode(ids));
        Assert.Equal(text, string.Concat(ids.Select(tokenizer.DecodeToken)));
        Assert.Same(tokenizer.DecodeToken(ids[0]), tokenizer.DecodeToken(ids[0]));

        // cl100k_base: "hello world" is two tokens.
        Assert.Equal(2, tokenizer.CountTokens("hello world"));
    }
}
