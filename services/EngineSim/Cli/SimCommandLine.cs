using System.Globalization;
using Platform.EngineSim.Engine;
using Platform.EngineSim.Faults;

namespace Platform.EngineSim.Cli;

/// <summary>
/// Parses <c>vllm serve</c>'s command line into <see cref="SimSettings"/>: <c>[serve] [MODEL] --flag value</c>,
/// <c>--flag=value</c>, vLLM's own flags (modelled or accepted and ignored) and EngineSim's <c>--sim-*</c> flags.
/// Every invalid value throws a <see cref="CommandLineException"/> naming the flag.
/// </summary>
internal static class SimCommandLine
{
    /// <summary>The draft-model names that mark a code-tuned draft when --sim-draft-kind is not given.</summary>
    private static readonly string[] CodeDraftMarkers = ["code", "coder"];

    private static readonly int[] BlockSizes = [1, 8, 16, 32, 64, 128];

    /// <summary>Parses <paramref name="args"/>; <paramref name="environment"/> supplies VLLM_API_KEY (vLLM reads it too).</summary>
    public static SimSettings Parse(IReadOnlyList<string> args, Func<string, string?>? environment = null)
    {
        var state = new ParseState();
        var reader = new ArgReader(args);
        if (reader.Peek() == "serve")
        {
            reader.Next();
        }

        while (reader.HasMore)
        {
            var arg = reader.Next();
            if (arg.StartsWith("--", StringComparison.Ordinal) && arg.Length > 2)
            {
                var eq = arg.IndexOf('=', StringComparison.Ordinal);
                var name = eq < 0 ? arg : arg[..eq];
                var inline = eq < 0 ? null : arg[(eq + 1)..];
                ApplyLongFlag(state, reader, name, inline);
            }
            else if (arg.Length > 1 && arg[0] == '-' && !IsNumber(arg))
            {
                ApplyShortFlag(state, reader, arg);
            }
            else if (state.PositionalModel is null)
            {
                state.PositionalModel = arg;
            }
            else
            {
                throw new CommandLineException("", $"unrecognized arguments: {arg}");
            }
        }

        return Build(state, environment ?? Environment.GetEnvironmentVariable);
    }

    /// <summary>
    /// For Program: parses, or prints the one-line error to stderr and exits with argparse's status 2.
    /// </summary>
    public static SimSettings ParseOrExit(IReadOnlyList<string> args)
    {
        try
        {
            return Parse(args);
        }
        catch (CommandLineException e)
        {
            Console.Error.WriteLine($"EngineSim: {e.Message}");
            Environment.Exit(CommandLineException.ExitCode);
            throw;
        }
    }

    private static void ApplyLongFlag(ParseState s, ArgReader r, string name, string? inline)
    {
        switch (name)
        {
            case "--model": s.Model = Text(name, r.Value(name, inline)); break;
            case "--served-model-name": s.ServedModelNames = r.Values(name, inline); break;
            case "--host": s.Host = r.Value(name, inline); s.ListenExplicit = true; break;
            case "--port": s.Port = Int(name, r.Value(name, inline), 0, 65535); s.ListenExplicit = true; break;
            case "--max-num-seqs": s.MaxNumSeqs = Int(name, r.Value(name, inline), 1, 1_000_000); break;
            case "--max-model-len": s.MaxModelLen = HumanInt(name, r.Value(name, inline), 1, 100_000_000); break;
            case "--max-num-batched-tokens": s.MaxNumBatchedTokens = HumanInt(name, r.Value(name, inline), 1, 100_000_000); break;
            case "--block-size": s.BlockSize = BlockSize(name, r.Value(name, inline)); break;
            case "--num-gpu-blocks-override": s.NumGpuBlocks = Int(name, r.Value(name, inline), 1, 100_000_000); break;
            case "--enable-prefix-caching": s.PrefixCaching = Switch(name, inline, true); break;
            case "--no-enable-prefix-caching": s.PrefixCaching = Switch(name, inline, false); break;
            case "--speculative-config": s.SpeculativeJson = r.Value(name, inline); break;
            case "--api-key": s.ApiKey = Text(name, r.Value(name, inline)); break;
            case "--sim-seed": s.Seed = Long(name, r.Value(name, inline)); break;
            case "--sim-speedup": s.Speedup = Positive(name, r.Value(name, inline)); break;
            case "--sim-decode-base-ms": s.DecodeBaseMs = NonNegative(name, r.Value(name, inline)); break;
            case "--sim-decode-per-seq-ms": s.DecodePerSeqMs = NonNegative(name, r.Value(name, inline)); break;
            case "--sim-prefill-per-token-ms": s.PrefillPerTokenMs = NonNegative(name, r.Value(name, inline)); break;
            case "--sim-spec-per-draft-token-ms": s.SpecPerDraftTokenMs = NonNegative(name, r.Value(name, inline)); break;
            case "--sim-draft-kind": s.DraftKind = DraftKind(name, r.Value(name, inline)); break;
            case "--sim-acceptance-match": s.AcceptanceMatch = Probability(name, r.Value(name, inline)); break;
            case "--sim-acceptance-mismatch": s.AcceptanceMismatch = Probability(name, r.Value(name, inline)); break;
            case "--sim-engine-label": s.EngineLabel = Text(name, r.Value(name, inline)); break;
            case "--sim-max-request-bytes": s.MaxRequestBytes = Long(name, r.Value(name, inline), 1024); break;
            case "--sim-error-rate": s.Faults = s.Faults with { ErrorRate = Double(name, r.Value(name, inline)) }; break;
            case "--sim-error-status": s.Faults = s.Faults with { ErrorStatus = Int(name, r.Value(name, inline), int.MinValue, int.MaxValue) }; break;
            case "--sim-latency-spike-ms": s.Faults = s.Faults with { LatencySpikeMs = Double(name, r.Value(name, inline)) }; break;
            case "--sim-latency-spike-rate": s.Faults = s.Faults with { LatencySpikeRate = Double(name, r.Value(name, inline)) }; break;
            case "--sim-slowdown": s.Faults = s.Faults with { Slowdown = Double(name, r.Value(name, inline)) }; break;
            case "--sim-hang": s.Faults = s.Faults with { Hang = Switch(name, inline, true) }; break;
            case "--sim-crash-after-tokens": s.Faults = s.Faults with { CrashAfterTokens = Int(name, r.Value(name, inline), int.MinValue, int.MaxValue) }; break;
            case "--sim-kv-drift": s.Faults = s.Faults with { KvDrift = Double(name, r.Value(name, inline)) }; break;
            case "--sim-lie-health": s.Faults = s.Faults with { LieHealth = Switch(name, inline, true) }; break;
            default: Ignore(s, r, name, inline); break;
        }
    }

    private static void Ignore(ParseState s, ArgReader r, string name, string? inline)
    {
        if (name.StartsWith("--sim-", StringComparison.Ordinal))
        {
            throw new CommandLineException(name, "unknown EngineSim option (see README: Command line)");
        }

        if (IsBooleanVllmFlag(name))
        {
            if (inline is not null)
            {
                throw new CommandLineException(name, $"ignored explicit argument '{inline}'");
            }

            s.Ignored.Add(name);
        }
        else if (VllmFlags.MultiValued.Contains(name))
        {
            s.Ignored.Add($"{name} {string.Join(' ', r.Values(name, inline))}");
        }
        else if (VllmFlags.Valued.Contains(name))
        {
            s.Ignored.Add($"{name} {r.Value(name, inline)}");
        }
        else if (inline is not null)
        {
            s.Ignored.Add($"{name} {inline}");
        }
        else
        {
            // A flag vLLM may have grown since this list was written: take a value when one follows.
            s.Ignored.Add(r.PeekIsValue() ? $"{name} {r.Next()}" : name);
        }
    }

    private static void ApplyShortFlag(ParseState s, ArgReader r, string arg)
    {
        if (VllmFlags.ShortValued.Contains(arg))
        {
            s.Ignored.Add($"{arg} {r.Value(arg, null)}");
            return;
        }

        // -O3 and -tp=2 style: the value glued to a known short flag.
        foreach (var flag in new[] { "-tp", "-pp", "-dp", "-q", "-O" })
        {
            if (arg.StartsWith(flag, StringComparison.Ordinal) && arg.Length > flag.Length)
            {
                s.Ignored.Add(arg);
                return;
            }
        }

        throw new CommandLineException(arg, "unrecognized option");
    }

    private static bool IsBooleanVllmFlag(string name) =>
        VllmFlags.Boolean.Contains(name)
        || (name.StartsWith("--no-", StringComparison.Ordinal) && VllmFlags.Boolean.Contains("--" + name[5..]));

    private static SimSettings Build(ParseState s, Func<string, string?> environment)
    {
        var model = ResolveModel(s);
        var served = s.ServedModelNames is { Count: > 0 } names ? names : [model];
        var maxModelLen = s.MaxModelLen ?? 32768;
        var maxNumSeqs = s.MaxNumSeqs ?? 256;
        var blockSize = s.BlockSize ?? 16;
        var batched = s.MaxNumBatchedTokens ?? Math.Max(8192, maxNumSeqs);
        if (batched < maxNumSeqs)
        {
            throw new CommandLineException("--max-num-batched-tokens",
                $"max_num_batched_tokens ({batched}) must be greater than or equal to max_num_seqs ({maxNumSeqs})");
        }

        var blocks = s.NumGpuBlocks ?? 27_000;
        if ((long)blocks * blockSize < maxModelLen)
        {
            var flag = s.NumGpuBlocks is null ? "--max-model-len" : "--num-gpu-blocks-override";
            throw new CommandLineException(flag,
                $"the KV cache of {blocks} blocks of {blockSize} tokens holds {(long)blocks * blockSize} tokens, "
                + $"fewer than one sequence of max_model_len {maxModelLen}: vLLM refuses to start with this");
        }

        var faultErrors = FaultSettingsValidator.Validate(s.Faults);
        if (faultErrors.Count > 0)
        {
            throw new CommandLineException(FaultFlag(faultErrors[0].Field), faultErrors[0].Message);
        }

        if (s.AcceptanceMatch is { } match && s.AcceptanceMismatch is { } mismatch && mismatch > match)
        {
            throw new CommandLineException("--sim-acceptance-mismatch",
                $"must not exceed --sim-acceptance-match ({Invariant(match)}), got {Invariant(mismatch)}");
        }

        var apiKey = s.ApiKey ?? NullIfEmpty(environment("VLLM_API_KEY"));
        var engine = new EngineOptions
        {
            Model = model,
            ServedModelNames = served,
            MaxNumSeqs = maxNumSeqs,
            MaxModelLen = maxModelLen,
            MaxNumBatchedTokens = batched,
            BlockSize = blockSize,
            NumGpuBlocks = blocks,
            EnablePrefixCaching = s.PrefixCaching ?? true,
            Speculative = s.SpeculativeJson is null ? null : SpeculativeConfigParser.Parse(s.SpeculativeJson, s.DraftKind, s.AcceptanceMatch, s.AcceptanceMismatch),
            ApiKey = apiKey,
            Host = s.Host ?? "0.0.0.0",
            Port = s.Port ?? 8000,
            SimSeed = s.Seed ?? 42,
            EngineLabel = s.EngineLabel ?? "0",
            Latency = BuildLatency(s),
        };

        return new SimSettings
        {
            Engine = engine,
            Faults = s.Faults,
            IgnoredFlags = s.Ignored,
            ListenAddressExplicit = s.ListenExplicit,
            MaxRequestBodyBytes = s.MaxRequestBytes ?? SimSettings.DefaultMaxRequestBodyBytes,
        };
    }

    private static LatencyModel BuildLatency(ParseState s)
    {
        var latency = new LatencyModel();
        return latency with
        {
            DecodeBaseMs = s.DecodeBaseMs ?? latency.DecodeBaseMs,
            DecodePerSeqMs = s.DecodePerSeqMs ?? latency.DecodePerSeqMs,
            PrefillPerTokenMs = s.PrefillPerTokenMs ?? latency.PrefillPerTokenMs,
            SpecPerDraftTokenMs = s.SpecPerDraftTokenMs ?? latency.SpecPerDraftTokenMs,
            Speedup = s.Speedup ?? latency.Speedup,
        };
    }

    private static string ResolveModel(ParseState s)
    {
        if (s.PositionalModel is not null && s.Model is not null && s.PositionalModel != s.Model)
        {
            throw new CommandLineException("--model",
                $"the positional model '{s.PositionalModel}' and --model '{s.Model}' disagree; give one");
        }

        return s.PositionalModel ?? s.Model
            ?? throw new CommandLineException("--model", "a model is required: --model NAME (or `serve NAME`)");
    }

    /// <summary>Maps a fault field to the flag that sets it, so command-line errors name the flag.</summary>
    internal static string FaultFlag(string field) => field switch
    {
        "errorRate" => "--sim-error-rate",
        "errorStatus" => "--sim-error-status",
        "latencySpikeMs" => "--sim-latency-spike-ms",
        "latencySpikeRate" => "--sim-latency-spike-rate",
        "slowdown" => "--sim-slowdown",
        "hang" => "--sim-hang",
        "crashAfterTokens" => "--sim-crash-after-tokens",
        "kvDrift" => "--sim-kv-drift",
        "lieHealth" => "--sim-lie-health",
        _ => field,
    };

    internal static PromptKind? DraftKind(string flag, string value) => value.ToLowerInvariant() switch
    {
        "code" => PromptKind.Code,
        "general" => PromptKind.General,
        _ => throw new CommandLineException(flag, $"invalid choice: '{value}' (choose from 'code', 'general')"),
    };

    /// <summary>A code-tuned draft is recognised by its name, as an operator would read it.</summary>
    internal static PromptKind InferDraftKind(string? draftModel) =>
        draftModel is not null && CodeDraftMarkers.Any(m => draftModel.Contains(m, StringComparison.OrdinalIgnoreCase))
            ? PromptKind.Code
            : PromptKind.General;

    private static string Text(string flag, string value) =>
        string.IsNullOrWhiteSpace(value) ? throw new CommandLineException(flag, "must not be empty") : value;

    private static bool Switch(string flag, string? inline, bool whenPresent) => inline?.ToLowerInvariant() switch
    {
        null => whenPresent,
        "true" or "1" or "yes" => whenPresent,
        "false" or "0" or "no" => !whenPresent,
        _ => throw new CommandLineException(flag, $"invalid boolean value: '{inline}'"),
    };

    private static int Int(string flag, string value, int min, int max)
    {
        if (!int.TryParse(value, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out var n))
        {
            throw new CommandLineException(flag, $"invalid int value: '{value}'");
        }

        return n < min || n > max ? throw new CommandLineException(flag, $"must be in [{min}, {max}], got {n}") : n;
    }

    /// <summary>vLLM's human_readable_int: 32k = 32000, 32K = 32768 (also m/M, g/G).</summary>
    private static int HumanInt(string flag, string value, int min, int max)
    {
        long multiplier = 1;
        var digits = value;
        if (value.Length > 1)
        {
            multiplier = value[^1] switch
            {
                'k' => 1_000,
                'm' => 1_000_000,
                'g' => 1_000_000_000,
                'K' => 1L << 10,
                'M' => 1L << 20,
                'G' => 1L << 30,
                _ => 1,
            };
            if (multiplier != 1)
            {
                digits = value[..^1];
            }
        }

        if (!decimal.TryParse(digits, NumberStyles.AllowDecimalPoint | NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out var number)
            || (multiplier == 1 && number != decimal.Truncate(number)))
        {
            throw new CommandLineException(flag, $"invalid int value: '{value}'");
        }

        var total = number * multiplier;
        return total < min || total > max
            ? throw new CommandLineException(flag, $"must be in [{min}, {max}], got {value}")
            : (int)decimal.Truncate(total);
    }

    private static long Long(string flag, string value, long min = long.MinValue)
    {
        if (!long.TryParse(value, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out var n))
        {
            throw new CommandLineException(flag, $"invalid int value: '{value}'");
        }

        return n < min ? throw new CommandLineException(flag, $"must be at least {min}, got {n}") : n;
    }

    private static double Double(string flag, string value) =>
        double.TryParse(value, NumberStyles.Float, CultureInfo.InvariantCulture, out var d) && double.IsFinite(d)
            ? d
            : throw new CommandLineException(flag, $"invalid float value: '{value}'");

    private static double Positive(string flag, string value)
    {
        var d = Double(flag, value);
        return d > 0 ? d : throw new CommandLineException(flag, $"must be greater than 0, got {value}");
    }

    private static double NonNegative(string flag, string value)
    {
        var d = Double(flag, value);
        return d >= 0 ? d : throw new CommandLineException(flag, $"must be a non-negative number, got {value}");
    }

    private static double Probability(string flag, string value)
    {
        var d = Double(flag, value);
        return d is >= 0 and <= 1 ? d : throw new CommandLineException(flag, $"must be a probability in [0, 1], got {value}");
    }

    private static int BlockSize(string flag, string value)
    {
        var size = Int(flag, value, 1, 1024);
        return Array.IndexOf(BlockSizes, size) >= 0
            ? size
            : throw new CommandLineException(flag, $"invalid choice: {size} (choose from 1, 8, 16, 32, 64, 128)");
    }

    private static bool IsNumber(string arg) => double.TryParse(arg, NumberStyles.Float, CultureInfo.InvariantCulture, out _);

    private static string? NullIfEmpty(string? value) => string.IsNullOrEmpty(value) ? null : value;

    private static string Invariant(double value) => value.ToString(CultureInfo.InvariantCulture);

    private sealed class ParseState
    {
        public string? PositionalModel { get; set; }
        public string? Model { get; set; }
        public IReadOnlyList<string>? ServedModelNames { get; set; }
        public string? Host { get; set; }
        public int? Port { get; set; }
        public bool ListenExplicit { get; set; }
        public int? MaxNumSeqs { get; set; }
        public int? MaxModelLen { get; set; }
        public int? MaxNumBatchedTokens { get; set; }
        public int? BlockSize { get; set; }
        public int? NumGpuBlocks { get; set; }
        public bool? PrefixCaching { get; set; }
        public string? SpeculativeJson { get; set; }
        public string? ApiKey { get; set; }
        public long? Seed { get; set; }
        public double? Speedup { get; set; }
        public double? DecodeBaseMs { get; set; }
        public double? DecodePerSeqMs { get; set; }
        public double? PrefillPerTokenMs { get; set; }
        public double? SpecPerDraftTokenMs { get; set; }
        public PromptKind? DraftKind { get; set; }
        public double? AcceptanceMatch { get; set; }
        public double? AcceptanceMismatch { get; set; }
        public string? EngineLabel { get; set; }
        public long? MaxRequestBytes { get; set; }
        public FaultSettings Faults { get; set; } = new();
        public List<string> Ignored { get; } = [];
    }

    /// <summary>Walks the arguments; a value is the inline "=value" or the next argument that is not a flag.</summary>
    private sealed class ArgReader(IReadOnlyList<string> args)
    {
        private int _index;

        public bool HasMore => _index < args.Count;

        public string? Peek() => HasMore ? args[_index] : null;

        public string Next() => args[_index++];

        /// <summary>True when the next argument is a value rather than a flag (negative numbers are values).</summary>
        public bool PeekIsValue() => Peek() is { } next && (!next.StartsWith('-') || IsNumber(next));

        public string Value(string flag, string? inline)
        {
            if (inline is not null)
            {
                return inline;
            }

            return PeekIsValue() ? Next() : throw new CommandLineException(flag, "expected one argument");
        }

        public IReadOnlyList<string> Values(string flag, string? inline)
        {
            var values = new List<string>();
            if (inline is not null)
            {
                values.Add(inline);
            }

            while (PeekIsValue())
            {
                values.Add(Next());
            }

            return values.Count > 0 ? values : throw new CommandLineException(flag, "expected at least one argument");
        }
    }
}
