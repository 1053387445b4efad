using Platform.EngineSim.Engine;

namespace Platform.EngineSim.Text;

/// <summary>
/// Decides whether a prompt asks for code. This is the simulator's ground truth (it picks the output corpus
/// and the speculative acceptance rate), deliberately independent of the product's Classifier service: a
/// router that classifies well is rewarded with higher acceptance, as it would be on real engines.
/// Cheap: reads at most the first <see cref="MaxChars"/> characters once, no allocation.
/// </summary>
internal static class PromptClassifier
{
    public const int MaxChars = 8192;

    // Phrases that ask for code outright.
    private static readonly string[] CodeAsks =
    [
        "write a function", "write a method", "write a class", "write a script", "write a program",
        "write code", "write the code", "write a query", "sql query", "regex", "regular expression",
        "implement ", "refactor", "unit test", "stack trace", "compile", "debug this", "fix this code",
        "fix the bug", "in python", "in rust", "in golang", "in go ", "in java", "in c#", "in c++",
        "in javascript", "in typescript", "in bash", "bash script", "shell script", "powershell",
        "dockerfile", "kubernetes manifest", "yaml file", "json schema",
    ];

    // Tokens that appear in source code far more than in prose.
    private static readonly string[] CodeMarkers =
    [
        "def ", "class ", "return ", "import ", "#include", "public ", "private ", "static ", "void ",
        "select ", "const ", "var ", "=>", "fn ", "func ", "package ",
        "std::", "console.", "printf", "lambda", "await ", "async ", "elif ", "#!/", ");", "};", "!=", "==",
        "++", "&&", "||", "::",
    ];

    public static PromptKind Classify(string prompt)
    {
        var text = prompt.AsSpan(0, Math.Min(prompt.Length, MaxChars));
        if (text.IsEmpty)
        {
            return PromptKind.General;
        }

        if (text.Contains("```", StringComparison.Ordinal))
        {
            return PromptKind.Code;
        }

        foreach (var ask in CodeAsks)
        {
            if (text.Contains(ask, StringComparison.OrdinalIgnoreCase))
            {
                return PromptKind.Code;
            }
        }

        var markers = 0;
        foreach (var marker in CodeMarkers)
        {
            if (text.Contains(marker, StringComparison.OrdinalIgnoreCase))
            {
                markers++;
            }
        }

        // Braces, parentheses, semicolons and assignments: dense in code, rare in prose. Angle brackets
        // and pipes are left out because chat templates are full of them.
        var symbols = 0;
        foreach (var c in text)
        {
            if (c is '{' or '}' or '(' or ')' or ';' or '=' or '[' or ']')
            {
                symbols++;
            }
        }

        var density = (double)symbols / text.Length;
        return markers >= 4 || (markers >= 2 && density > 0.02) || density > 0.05 ? PromptKind.Code : PromptKind.General;
    }

    /// <summary>The code language the prompt names, or null (the generator then picks one from the seed).</summary>
    public static string? RequestedLanguage(string prompt)
    {
        var text = prompt.AsSpan(0, Math.Min(prompt.Length, MaxChars));
        if (text.Contains("python", StringComparison.OrdinalIgnoreCase))
        {
            return "python";
        }

        if (text.Contains("c#", StringComparison.OrdinalIgnoreCase) || text.Contains("csharp", StringComparison.OrdinalIgnoreCase)
            || text.Contains(".net", StringComparison.OrdinalIgnoreCase))
        {
            return "csharp";
        }

        if (text.Contains("javascript", StringComparison.OrdinalIgnoreCase) || text.Contains("typescript", StringComparison.OrdinalIgnoreCase)
            || text.Contains("node", StringComparison.OrdinalIgnoreCase))
        {
            return "javascript";
        }

        if (text.Contains("rust", StringComparison.OrdinalIgnoreCase))
        {
            return "rust";
        }

        if (text.Contains("golang", StringComparison.OrdinalIgnoreCase) || text.Contains(" go ", StringComparison.OrdinalIgnoreCase))
        {
            return "go";
        }

        if (text.Contains("sql", StringComparison.OrdinalIgnoreCase) || text.Contains("query", StringComparison.OrdinalIgnoreCase))
        {
            return "sql";
        }

        if (text.Contains("bash", StringComparison.OrdinalIgnoreCase) || text.Contains("shell", StringComparison.OrdinalIgnoreCase))
        {
            return "bash";
        }

        return null;
    }
}
