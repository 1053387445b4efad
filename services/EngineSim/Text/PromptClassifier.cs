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

    // Asks for prose about anything, code included: explanations, comparisons, summaries, translations between human
    // languages, "no code". They decide first: "explain this regex" wants prose (the platform's dataset labels it so).
    private static readonly string[] ProseAsks =
    [
        "prose only", "not code", "no code", "without code", "without writing", "in plain words", "in plain english",
        "just the idea", "explain", "walk me through", "what does", "what's the output", "feedback on", "understand",
        "reasoning", "time complexity", "when should", "difference between", "compare", "summarize", "summary",
        "which name", "commit message", "query letter", "translate to", "translate into", "translate everything",
        "traduis en", "que veut dire", "qu'est-ce que", "explique", "expliquer", "erkläre", "erklären", "was bedeutet",
        "übersetze ins", "explica", "explicar", "qué significa", "sin código", "traduce al", "объясни",
        "что означает", "解释", "説明", "설명",
    ];

    // Prose works whose requests name code things ("a song about a python", "a cover letter: I know SQL",
    // "the script for a YouTube intro"); without a code fence they are prose.
    private static readonly string[] ProseWorks =
    [
        "poem", "song", "lyrics", "haiku", "limerick", "story", "essay", "speech", "toast", "paragraph", "blog post",
        "caption", "slogan", "cover letter", "voice-over", "youtube", "video", "podcast", "radio", "theatre", "theater",
        "screenplay", "pull request description",
    ];

    // Asks and technologies that mean code on their own.
    private static readonly string[] CodeAsks =
    [
        "regex", "regular expression", "unit test", "stack trace", "traceback", "compile error", "compiler error",
        "segfault", "null pointer", "dockerfile", "makefile", "kubernetes manifest", "json schema", "shell script",
        "bash script", "sql query", "pull request", "code review",
        "sql", "bash", "powershell", "html", "css", "json", "yaml", "csv", "latex", "svg", "jq", "docker-compose",
        "docker compose", "nginx", "kubernetes", "k8s", "manifest", "cronjob", "crontab", "cron", "systemd", "terraform",
        "gitlab-ci", "git", "linux", "ubuntu", "stdin", "stdout", "command", "one-liner", "boilerplate", "upsert",
        "postgres", "postgresql", "mysql", "sqlite", "mongo", "graphql", "protobuf", "linq", "pandas", "dataframe",
        "list comprehension", "dataclass", "argparse", "pytest", "junit", "jest", "zod", "excel formula", "formula",
        "vba", "macro", "solidity", "arduino", "pre-commit", "coroutine", "genserver", "flutter", "widget", "vue",
        "template", "ggplot2", "laravel", "rails", "django", "flask", "spring boot", "asp.net", ".net",
        "requête", "consulta", "запрос", "zapytanie", "befehl", "команд", "comando", "命令", "skript", "脚本", "スクリプト",
        "expresión regular", "expression régulière", "regulärer ausdruck", "regulären ausdruck", "正则表达式",
    ];

    // Two of these four make code: a verb of making, fixing or asking how; a code noun; a programming language; code
    // pasted in the prompt (two or more code markers). "Write a Python function", "Go program that...", "fix it: def ...".
    private static readonly string[] CodeVerbs =
    [
        "write", "implement", "create", "generate", "fix", "refactor", "debug", "optimize", "convert", "port", "build",
        "add", "solve", "give me", "how do i", "how do you", "how to", "how can i", "écris", "écrire", "implémente",
        "modifie", "comment", "schreibe", "schreib", "erstelle", "gib mir", "wie", "escribe", "dame", "cómo", "escreva",
        "escrever", "crie", "conserte", "como", "scrivi", "modifica", "schrijf", "napisz", "yaz", "напиши", "реализуй",
        "дай", "как", "写", "给我", "怎么", "書いて", "作成", "実装", "修正", "작성",
    ];

    private static readonly string[] CodeNouns =
    [
        "function", "method", "class", "script", "program", "query", "snippet", "algorithm", "endpoint", "api",
        "library", "module", "code", "bug", "struct", "interface", "test", "cli", "parser", "array", "slice", "dict",
        "hashmap", "map", "enum", "record", "lambda", "closure", "iterator", "generator", "decorator", "hook",
        "component", "controller", "constructor", "destructor", "wrapper", "fixture", "migration", "schema", "table",
        "config", "configuration", "cache", "lru", "async", "extension", "terminal", "rest api",
        "fonction", "funktion", "tabelle", "konfiguration", "función", "função", "código", "funzione", "functie",
        "функци", "函数", "関数", "コード", "함수",
    ];

    private static readonly string[] Languages =
    [
        "python", "javascript", "typescript", "js", "ts", "rust", "golang", "java", "c#", "c++", "csharp", "kotlin",
        "swift", "ruby", "php", "haskell", "scala", "perl", "lua", "dart", "elixir", "erlang", "clojure", "fortran",
        "cobol", "matlab", "sql", "bash", "powershell", "html", "css", "react", "node.js", "자바스크립트",
    ];

    // Tokens that appear in source code far more than in prose.
    private static readonly string[] CodeMarkers =
    [
        "def ", "class ", "return ", "import ", "#include", "public ", "private ", "static ", "void ", "const ",
        "var ", "=>", "fn ", "func ", "package ", "std::", "console.", "printf", "lambda", "await ", "async ",
        "elif ", "#!/", ");", "};", "!=", "==", "++", "&&", "||", "::",
    ];

    // "Go" the language is written with a capital; these make it the verb.
    private static readonly string[] GoVerbUses = [" to", " ahead", " back", " out", " for", " on"];

    /// <summary>
    /// Code when the ideal answer is code, in this order: an ask for prose (or a prose work without a code fence) is
    /// general; a code fence, SELECT ... FROM, or an ask or technology of code alone is code; then two of {verb, noun,
    /// language, pasted code}; then the density of code markers and symbols. It agrees with the labels of the
    /// platform's dataset (services/Classifier/data) on 93% of its 808 prompts; the rules were written against it.
    /// </summary>
    public static PromptKind Classify(string prompt)
    {
        var text = prompt.AsSpan(0, Math.Min(prompt.Length, MaxChars));
        if (text.IsEmpty)
        {
            return PromptKind.General;
        }

        var fenced = text.Contains("```", StringComparison.Ordinal);
        if (ContainsAnyWord(text, ProseAsks) || (!fenced && ContainsAnyWord(text, ProseWorks)))
        {
            return PromptKind.General;
        }

        if (fenced
            || (text.Contains("SELECT ", StringComparison.Ordinal) && text.Contains(" FROM ", StringComparison.Ordinal))
            || ContainsAnyWord(text, CodeAsks))
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

        var signals = (ContainsAnyWord(text, CodeNouns) ? 1 : 0) + (ContainsAnyWord(text, CodeVerbs) ? 1 : 0)
            + (ContainsAnyWord(text, Languages) || NamesGo(text) ? 1 : 0) + (markers >= 2 ? 1 : 0);
        if (signals >= 2)
        {
            return PromptKind.Code;
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

    /// <summary>"Go" with a capital, as a word, not followed by what makes it the verb ("Go to", "Go ahead").</summary>
    private static bool NamesGo(ReadOnlySpan<char> text)
    {
        var offset = 0;
        while (offset < text.Length)
        {
            var index = text[offset..].IndexOf("Go", StringComparison.Ordinal);
            if (index < 0)
            {
                return false;
            }

            var start = offset + index;
            var end = start + 2;
            var rest = text[end..];
            if ((start == 0 || !char.IsAsciiLetter(text[start - 1])) && (end >= text.Length || !char.IsAsciiLetter(text[end])))
            {
                var verb = false;
                foreach (var use in GoVerbUses)
                {
                    verb |= rest.StartsWith(use, StringComparison.Ordinal) && (rest.Length == use.Length || !char.IsAsciiLetter(rest[use.Length]));
                }

                if (!verb)
                {
                    return true;
                }
            }

            offset = start + 1;
        }

        return false;
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

    /// <summary>
    /// Case-insensitive match not glued to ASCII letters on either side ("rust" is not in "trust"; plurals count).
    /// Only ASCII letters bound a word, so "SQL" counts inside Chinese or Japanese text ("写一个SQL语句").
    /// </summary>
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
            var before = start == 0 || !char.IsAsciiLetter(text[start - 1]);
            var after = end >= text.Length || !char.IsAsciiLetter(text[end]) || (text[end] is 's' or 'S' && (end + 1 >= text.Length || !char.IsAsciiLetter(text[end + 1])));
            if (before && after)
            {
                return true;
            }

            offset = start + 1;
        }

        return false;
    }
}
