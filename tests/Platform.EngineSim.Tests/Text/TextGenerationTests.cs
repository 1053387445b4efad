using Platform.EngineSim.Engine;
using Platform.EngineSim.Tests.Engine;
using Platform.EngineSim.Text;

namespace Platform.EngineSim.Tests.Text;

public sealed class TextGenerationTests
{
    private const string ProsePrompt = "Tell me about the history of lighthouses.";
    private const string CodePrompt = "Write a function in Python that merges two sorted lists.";

    [Fact]
    public async Task Generate_SameSeedAndPrompt_GivesTheSameText()
    {
        var first = await GenerateAsync(ProsePrompt, seed: 1234);
        var second = await GenerateAsync(ProsePrompt, seed: 1234);
        Assert.Equal(first, second);
        Assert.True(first.Length > 200);
    }

    [Fact]
    public async Task Generate_DifferentSeeds_GiveDifferentTexts()
    {
        var texts = new HashSet<string>();
        for (var seed = 0; seed < 5; seed++)
        {
            texts.Add(await GenerateAsync(ProsePrompt, seed: seed));
        }

        Assert.Equal(5, texts.Count);
    }

    [Fact]
    public async Task Generate_GreedyWithoutSeed_IsDeterministicPerPrompt()
    {
        var a = await GenerateAsync(ProsePrompt, seed: null, temperature: 0);
        var b = await GenerateAsync(ProsePrompt, seed: null, temperature: 0);
        var c = await GenerateAsync("Describe a small harbor town in winter.", seed: null, temperature: 0);
        Assert.Equal(a, b);
        Assert.NotEqual(a, c);
    }

    [Fact]
    public async Task Generate_CodePrompt_ReadsAsCodeAndProsePromptAsProse()
    {
        var code = await GenerateAsync(CodePrompt, seed: 3);
        Assert.Contains("```python\n", code, StringComparison.Ordinal);
        Assert.Contains("def ", code, StringComparison.Ordinal);
        Assert.True(code.Count(c => c is '(' or ')' or ':' or '=') > 10);

        var prose = await GenerateAsync(ProsePrompt, seed: 3);
        Assert.DoesNotContain("```", prose, StringComparison.Ordinal);
        Assert.True(prose.Count(c => c == '.') >= 3);
        Assert.True(prose.Count(c => c is '{' or '}' or ';' or '=') == 0);
    }

    [Fact]
    public async Task Generate_TokenTexts_ConcatenateToTheDecodedSequence()
    {
        using var harness = new EngineHarness();
        var run = harness.Start(harness.Request(CodePrompt, maxTokens: 300));
        harness.RunToIdle();
        var text = await run.TextAsync();
        var ids = run.Outputs.SelectMany(o => o.Tokens).Select(t => t.TokenId).ToArray();
        Assert.Equal(EngineHarness.Tokenizer.Decode(ids), text);
    }

    [Fact]
    public void NaturalLength_OverManySeeds_HasTheConfiguredMedian()
    {
        var lengths = Enumerable.Range(0, 1001)
            .Select(seed => EngineHarness.Generator.Start((ulong)seed * 7919, PromptKind.General, ProsePrompt).NaturalLength)
            .Order()
            .ToList();
        Assert.InRange(lengths[500], TextGenerator.MedianLength * 0.85, TextGenerator.MedianLength * 1.15);
        Assert.True(lengths[0] >= 16);
        Assert.True(lengths[^1] > lengths[500] * 2);
    }

    [Fact]
    public async Task Generate_WithoutIgnoreEos_EndsNaturallyWithStopAndCountsTheEosToken()
    {
        using var harness = new EngineHarness();
        var request = harness.Request(ProsePrompt, maxTokens: 5000, ignoreEos: false, seed: 99);
        var run = harness.Start(request);
        harness.RunToIdle();
        var last = await run.FinishedAsync();

        var expected = EngineHarness.Generator.Start(TextGenerator.EffectiveSeed(99, 1.0, ProsePrompt, 0), PromptKind.General, ProsePrompt).NaturalLength;
        Assert.Equal(FinishReason.Stop, last.FinishReason);
        Assert.Null(last.StopReason);
        Assert.Equal(expected, last.CompletionTokens);
        Assert.Equal(SimTokenizer.EndOfTextTokenId, last.Tokens[^1].TokenId);
        Assert.Equal(string.Empty, last.Tokens[^1].Text);
    }

    [Fact]
    public async Task Generate_MinTokens_DelaysTheNaturalEnd()
    {
        using var harness = new EngineHarness();
        var natural = EngineHarness.Generator.Start(TextGenerator.EffectiveSeed(5, 1.0, ProsePrompt, 0), PromptKind.General, ProsePrompt).NaturalLength;
        var run = harness.Start(harness.Request(ProsePrompt, maxTokens: 5000, ignoreEos: false, seed: 5, minTokens: natural + 40));
        harness.RunToIdle();
        var last = await run.FinishedAsync();
        Assert.Equal(FinishReason.Stop, last.FinishReason);
        Assert.Equal(natural + 40, last.CompletionTokens);
    }

    [Fact]
    public async Task Generate_StopString_EndsBeforeItAndReportsIt()
    {
        using var harness = new EngineHarness();
        var full = await GenerateAsync(ProsePrompt, seed: 21, maxTokens: 200);
        var stop = ". ";
        var expectedEnd = full.IndexOf(stop, StringComparison.Ordinal);
        Assert.True(expectedEnd > 0);

        var run = harness.Start(harness.Request(ProsePrompt, maxTokens: 200, seed: 21, stop: ["never-appears", stop]));
        harness.RunToIdle();
        var text = await run.TextAsync();
        var last = run.Outputs[^1];
        Assert.Equal(full[..expectedEnd], text);
        Assert.Equal(FinishReason.Stop, last.FinishReason);
        Assert.Equal(stop, last.StopReason);

        var included = harness.Start(harness.Request(ProsePrompt, maxTokens: 200, seed: 21, stop: [stop], includeStop: true));
        harness.RunToIdle();
        Assert.Equal(full[..(expectedEnd + stop.Length)], await included.TextAsync());
    }

    [Fact]
    public async Task Generate_StopStringSpanningTokens_IsHeldBackFromTheStream()
    {
        using var harness = new EngineHarness();
        var full = await GenerateAsync(ProsePrompt, seed: 8, maxTokens: 200);

        // A stop string that starts inside one token and ends in a later one.
        var stop = full.Substring(40, 12);
        var run = harness.Start(harness.Request(ProsePrompt, maxTokens: 200, seed: 8, stop: [stop]));
        harness.RunToIdle();
        var text = await run.TextAsync();

        // Text already streamed is never taken back, so the concatenation proves nothing past the cut leaked.
        Assert.Equal(full[..full.IndexOf(stop, StringComparison.Ordinal)], text);
        Assert.Equal(stop, run.Outputs[^1].StopReason);
    }

    [Fact]
    public async Task Generate_Logprobs_ArePlausibleAndDeterministic()
    {
        var first = await TokensAsync(logprobs: 5);
        var second = await TokensAsync(logprobs: 5);
        Assert.Equal(first.Select(t => t.Logprob), second.Select(t => t.Logprob));
        foreach (var token in first)
        {
            Assert.InRange(token.Logprob, -1.0f, 0f);
            var top = Assert.IsAssignableFrom<IReadOnlyList<TopLogprob>>(token.TopLogprobs);
            Assert.Equal(5, top.Count);
            Assert.Equal(token.TokenId, top[0].TokenId);
            Assert.Equal(5, top.Select(t => t.TokenId).Distinct().Count());
            for (var i = 1; i < top.Count; i++)
            {
                Assert.True(top[i].Logprob < top[i - 1].Logprob);
            }

            Assert.True(top.Sum(t => Math.Exp(t.Logprob)) <= 1.0 + 1e-6);
        }

        var none = await TokensAsync(logprobs: null);
        Assert.All(none, t => Assert.Null(t.TopLogprobs));
        var sampledOnly = await TokensAsync(logprobs: 0);
        Assert.All(sampledOnly, t => Assert.Null(t.TopLogprobs));
        Assert.Equal(first.Select(t => t.Logprob), sampledOnly.Select(t => t.Logprob));
    }

    private static async Task<List<GeneratedToken>> TokensAsync(int? logprobs)
    {
        using var harness = new EngineHarness();
        var run = harness.Start(harness.Request(ProsePrompt, maxTokens: 30, seed: 4, logprobs: logprobs));
        harness.RunToIdle();
        await run.FinishedAsync();
        return [.. run.Outputs.SelectMany(o => o.Tokens)];
    }

    private static async Task<string> GenerateAsync(string prompt, long? seed, double temperature = 1.0, int maxTokens = 120)
    {
        using var harness = new EngineHarness();
        var run = harness.Start(harness.Request(prompt, maxTokens: maxTokens, seed: seed, temperature: temperature));
        harness.RunToIdle();
        return await run.TextAsync();
    }
}
