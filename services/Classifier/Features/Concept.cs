namespace Platform.Classifier.Features;

/// <summary>
/// What a word of the prompt is about, whatever its human language: "function", "fonction", "Funktion", "функцию" and
/// "関数" are all <see cref="CodeNoun"/>. Concepts let a few hundred labelled prompts teach the model about
/// languages it saw little of; the model learns one weight per concept and per pair of concepts.
/// </summary>
[Flags]
internal enum Concept : ushort
{
    None = 0,

    /// <summary>A verb of making: write, implement, create, generate, give me...</summary>
    Make = 1 << 0,

    /// <summary>Something made of code: function, class, script, query, regex, unit test, Dockerfile...</summary>
    CodeNoun = 1 << 1,

    /// <summary>A programming language, framework or tool: Python, Rust, SQL, bash, Kubernetes...</summary>
    ProgLang = 1 << 2,

    /// <summary>Something made of prose: essay, poem, email, story, summary, commit message...</summary>
    ProseNoun = 1 << 3,

    /// <summary>Asking for understanding: explain, why, what is, difference, compare...</summary>
    Explain = 1 << 4,

    /// <summary>Changing something that exists: fix, refactor, optimize, convert, rewrite, add...</summary>
    Fix = 1 << 5,

    /// <summary>Translate.</summary>
    Translate = 1 << 6,

    /// <summary>A human language: English, français, Deutsch, 中文...</summary>
    HumanLang = 1 << 7,

    /// <summary>A data or configuration format: JSON, YAML, XML, CSV, TOML.</summary>
    DataFormat = 1 << 8,

    /// <summary>Restricting the answer: only, just, no explanation...</summary>
    OutputOnly = 1 << 9,

    /// <summary>Mathematics: prove, equation, integral, derivative...</summary>
    Math = 1 << 10,

    /// <summary>How: how do I, how to, comment, wie, cómo, как, 怎么...</summary>
    How = 1 << 11,

    /// <summary>Asking for prose about code: no code, in plain words, conceptually...</summary>
    ProseOnly = 1 << 12,

    /// <summary>Not a word: code is present in the prompt (fenced, or lines that read as code).</summary>
    CodePresent = 1 << 13,
}
