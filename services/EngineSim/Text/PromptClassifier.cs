using Platform.EngineSim.Engine;

namespace Platform.EngineSim.Text;

/// <summary>
/// Decides whether a prompt asks for code. This is the simulator's ground truth (it picks the output corpus
/// and the speculative acceptance rate), deliberately independent of the product's Classifier service: a
/// router that classifies well is rewarded with higher acceptance, as it would be on real engines.
/// Cheap: reads at most the first <see cref="MaxChars"/> characters, no allocation.
/// </summary>
internal static class PromptClassifier
{
    public const int MaxChars = 8192;

    // Asks that mean code on their own.
    private static readonly string[] CodeAsks =
    [
        "regex", "regular expression", "unit test", "stack trace", "traceback", "compile error", "compiler error",
        "segfault", "null pointer", "dockerfile", "makefile", "kubernetes manifest", "json schema", "shell script",
        "bash script", "sql query", "pull request", "code review",
    ];

    // "Write a Python function", "implement a class", "a Rust bug": verbs, nouns and languages of code.
    private static readonly string[] CodeVerbs =
        ["write", "implement", "create", "generate", "fix", "refactor", "debug", "optimize", "convert", "port", "build"];

    private static readonly string[] CodeNouns =
    [
        "function", "method", "class", "script", "program", "query", "snippet", "algorithm", "endpoint", "api",
        "library", "module", "code", "bug", "struct", "interface", "test", "cli", "parser",
    ];

    private static readonly string[] Languages =
    [
        "python", "javascript", "typescript", "rust", "golang", "java", "c#", "c++", "csharp", "kotlin", "swift",
        "ruby", "php", "haskell", "scala", "sql", "bash", "powershell", "html", "css", "react", "node.js",
    ];

    // Tokens that appear in source code far more than in prose.
    private static readonly string[] CodeMarkers =
    [
        "def ", "class ", "return ", "import ", "#include", "public ", "private ", "static ", "void ", "const ",
        "var ", "=>", "fn ", "func ", "package ", "std::", "console.", "printf", "lambda", "await ", "async ",
        "elif ", "#!/", ");", "};", "!=", "==", "++", "&&", "||", "::",
    ];

    public static PromptKind Classify(string prompt)
    {
        var text = prompt.AsSpan(0, Math.Min(prompt.Length, MaxChars));
        if (text.IsEmpty)
        {
            return PromptKind.General;
        }

        if (text.Contains("```", StringComparison.Ordinal)
            || (text.Contains("SELECT ", StringComparison.Ordinal) && text.Contains(" FROM ", StringComparison.Ordinal)))
        {
            return PromptKind.Code;
        }

        foreach (var ask in CodeAsks)
        {
            if (ContainsWord(text, ask))
            {
                return PromptKind.Code;
            }
        }

        // Two of the three: a code noun, a verb of making or fixing, a programming language.
        var signals = (ContainsAnyWord(text, CodeNouns) ? 1 : 0) + (ContainsAnyWord(text, CodeVerbs) ? 1 : 0) + (ContainsAnyWord(text, Languages) ? 1 : 0);
        if (signals >= 2)
        {
            return PromptKind.Code;
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
        if (ContainsWord(text, "python"))
        {
            return "python";
        }

        if (ContainsWord(text, "c#") || ContainsWord(text, "csharp") || ContainsWord(text, ".net"))
        {
            return "csharp";
        }

        if (ContainsWord(text, "javascript") || ContainsWord(text, "typescript") || ContainsWord(text, "node.js") || ContainsWord(text, "react"))
        {
            return "javascript";
        }

        if (ContainsWord(text, "rust"))
        {
            return "rust";
        }

        if (ContainsWord(text, "golang") || ContainsWord(text, "go"))
        {
            return "go";
        }

        if (ContainsWord(text, "sql") || ContainsWord(text, "query") || ContainsWord(text, "postgres"))
        {
            return "sql";
        }

        if (ContainsWord(text, "bash") || ContainsWord(text, "shell"))
        {
            return "bash";
        }

        return null;
    }

    private static bool ContainsAnyWord(ReadOnlySpan<char> text, string[] words)
    {
        foreach (var word in words)
        {
            if (ContainsWord(text, word))
            {
                return true;
            }
        }

        return false;
    }

    /// <summary>Case-insensitive match not glued to letters on either side ("rust" is not in "trust"; plurals count).</summary>
    private static bool ContainsWord(ReadOnlySpan<char> text, string word)
    {
        var offset = 0;
        while (offset < text.Length)
        {
            var index = text[offset..].IndexOf(word, StringComparison.OrdinalIgnoreCase);
            if (index < 0)
            {
                return false;
            }

            var start = offset + index;
            var end = start + word.Length;
            var before = start == 0 || !char.IsLetter(text[start - 1]);
            var after = end >= text.Length || !char.IsLetter(text[end]) || (text[end] is 's' or 'S' && (end + 1 >= text.Length || !char.IsLetter(text[end + 1])));
            if (before && after)
            {
                return true;
            }

            offset = start + 1;
        }

        return false;
    }
}
