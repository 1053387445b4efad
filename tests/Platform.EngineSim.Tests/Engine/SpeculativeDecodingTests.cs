using Platform.EngineSim.Engine;
using Platform.EngineSim.Tests.Metrics;

namespace Platform.EngineSim.Tests.Engine;

public sealed class SpeculativeDecodingTests
{
    private const int K = 4;

    internal static readonly string[] CodePrompts =
    [
        "Write a function in Python that merges two sorted lists.",
        "```js\nconst x = items.map((i) => i * 2);\n```\nRefactor this to use a for loop.",
        "Write a SQL query that returns the top 20 customers by revenue.",
        "Implement a thread-safe LRU cache in C#.",
        "Write a bash script that backs up every Postgres database.",
        "def add(a, b):\n    return a + b\n\nAdd type hints and a docstring.",
    ];

    internal static readonly string[] ProsePrompts =
    [
        "Tell me about the history of lighthouses.",
        "What are good habits for learning a new language as an adult?",
        "Describe a small harbor town in winter.",
        "Why does sleep matter for memory?",
        "Give me three reasons a project plan might succeed.",
        "Explain how rivers shape the land over time.",
    ];

    private static SpeculativeConfig CodeDraft() => new()
    {
        Method = "draft_model",
        Model = "qwen2.5-coder-0.5b",
        NumSpeculativeTokens = K,
        DraftKind = PromptKind.Code,
        AcceptanceMatched = 0.8,
        AcceptanceMismatched = 0.45,
    };

    [Fact]
    public async Task Generate_CodeTunedDraft_AcceptsMoreOnCodeThanOnProse()
    {
        var (codeRate, codeTokensPerStep) = await AcceptanceAsync(CodePrompts);
        var (proseRate, proseTokensPerStep) = await AcceptanceAsync(ProsePrompts);

        Assert.InRange(codeRate, 0.5, 0.8);
        Assert.InRange(proseRate, 0.15, 0.4);
        Assert.True(codeRate > proseRate + 0.2, $"code {codeRate:F2} vs prose {proseRate:F2}");
        Assert.True(codeTokensPerStep > proseTokensPerStep);
    }

    [Fact]
    public async Task Generate_GeneralDraft_AcceptsLessOnCodeThanOnProse()
    {
        // The same prompts on a general draft: the misrouted case (code prompts on the general pool).
        var general = CodeDraft() with { Model = "llama-3.2-1b-instruct", DraftKind = PromptKind.General };
        var (codeRate, codeTokensPerStep) = await AcceptanceAsync(CodePrompts, general);
        var (proseRate, proseTokensPerStep) = await AcceptanceAsync(ProsePrompts, general);

        Assert.InRange(proseRate, 0.5, 0.8);
        Assert.InRange(codeRate, 0.15, 0.4);
        Assert.True(proseRate > codeRate + 0.2, $"prose {proseRate:F2} vs code {codeRate:F2}");
        Assert.True(proseTokensPerStep > codeTokensPerStep);
    }

    [Fact]
    public async Task Generate_WithSpeculation_CountersAreConsistentWithWhatWasServed()
    {
        using var harness = new EngineHarness(EngineHarness.CreateOptions(speculative: CodeDraft()));
        var runs = CodePrompts.Concat(ProsePrompts).Select(p => harness.Start(harness.Request(p, maxTokens: 120))).ToList();
        harness.RunToIdle();
        foreach (var run in runs)
        {
            await run.FinishedAsync();
        }

        var metrics = PrometheusParser.Parse(harness.Metrics());
        var drafts = metrics.Value("vllm:spec_decode_num_drafts_total");
        var draftTokens = metrics.Value("vllm:spec_decode_num_draft_tokens_total");
        var accepted = metrics.Value("vllm:spec_decode_num_accepted_tokens_total");
        Assert.True(drafts > 0);
        Assert.Equal(drafts * K, draftTokens);
        Assert.True(accepted <= draftTokens);

        var perPos = Enumerable.Range(0, K).Select(p => metrics.Value("vllm:spec_decode_num_accepted_tokens_per_pos_total", ("position", p.ToString(System.Globalization.CultureInfo.InvariantCulture)))).ToList();
        Assert.Equal(accepted, perPos.Sum());
        for (var p = 1; p < K; p++)
        {
            Assert.True(perPos[p] <= perPos[p - 1], $"position {p}: {perPos[p]} > {perPos[p - 1]}");
        }

        // A draft step emits accepted + 1 tokens (fewer on the step that reaches max_tokens, as in vLLM the
        // surplus is dropped); the first token of each request comes from its prefill step.
        var generated = metrics.Value("vllm:generation_tokens_total");
        Assert.Equal(runs.Sum(r => r.Outputs[^1].CompletionTokens), generated);
        Assert.InRange(generated, drafts + runs.Count, drafts + accepted + runs.Count);
        Assert.All(runs, r => Assert.Equal(120, r.Outputs[^1].CompletionTokens));
    }

    [Fact]
    public void Metrics_WithoutSpeculation_HaveNoSpecDecodeFamilies()
    {
        using var harness = new EngineHarness();
        Assert.DoesNotContain("spec_decode", harness.Metrics(), StringComparison.Ordinal);
    }

    private static async Task<(double Rate, double TokensPerStep)> AcceptanceAsync(string[] prompts, SpeculativeConfig? draft = null)
    {
        using var harness = new EngineHarness(EngineHarness.CreateOptions(speculative: draft ?? CodeDraft()));
        var runs = new List<RequestRun>();
        for (var round = 0; round < 5; round++)
        {
            runs.AddRange(prompts.Select((p, i) => harness.Start(harness.Request(p, maxTokens: 200, seed: (round * 100) + i))));
        }

        harness.RunToIdle();
        foreach (var run in runs)
        {
            await run.FinishedAsync();
        }

        var metrics = PrometheusParser.Parse(harness.Metrics());
        var rate = metrics.Value("vllm:spec_decode_num_accepted_tokens_total") / metrics.Value("vllm:spec_decode_num_draft_tokens_total");
        var decodeOutputs = runs.SelectMany(r => r.Outputs.Skip(1)).ToList();
        var tokensPerStep = decodeOutputs.Average(o => o.Tokens.Count);
        return (rate, tokensPerStep);
    }
}
