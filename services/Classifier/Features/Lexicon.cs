using System.Collections.Frozen;

namespace Platform.Classifier.Features;

/// <summary>
/// The hand-written word lists behind each <see cref="Concept"/>, in English, French, German, Spanish, Portuguese,
/// Italian, Russian, Chinese, Japanese and Korean. A term is one token or two (a bigram) as the tokenizer cuts them:
/// lowercase words; Chinese and Japanese Han/Hiragana and Korean Hangul as 1- or 2-character n-grams; Katakana words whole.
/// A word may belong to several concepts. These lists carry no weights: training decides what each concept is worth.
/// </summary>
internal static class Lexicon
{
    private static readonly (Concept Concept, string[] Terms)[] Lists =
    [
        (Concept.Make,
        [
            "write", "implement", "create", "generate", "build", "make", "code", "program", "give me", "show me", "draft",
            "écris", "écrire", "écrivez", "implémente", "implémenter", "crée", "créer", "génère", "générer", "donne moi", "montre moi",
            "schreibe", "schreib", "schreiben", "implementiere", "erstelle", "erstellen", "generiere", "gib mir", "zeig mir",
            "escribe", "escribir", "escríbeme", "implementa", "implementar", "crea", "crear", "genera", "generar", "dame", "muéstrame",
            "escreva", "escreve", "escrever", "implemente", "crie", "criar", "gere", "gerar", "me dê", "mostre",
            "scrivi", "implementa", "genera", "dammi",
            "напиши", "написать", "напишите", "реализуй", "реализовать", "создай", "создать", "сгенерируй", "сделай", "дай",
            "写", "编写", "写一", "实现", "生成", "创建", "给我",
            "書い", "書く", "書け", "作成", "実装", "生成", "作っ", "作る",
            "작성", "만들", "구현",
            "napisz", "stwórz", "schrijf", "maak", "yaz", "oluştur", "써",
        ]),
        (Concept.CodeNoun,
        [
            "function", "functions", "method", "class", "script", "program", "code", "snippet", "query", "queries", "regex",
            "regexp", "regular expression", "endpoint", "api", "module", "unit test", "unit tests", "tests", "test case",
            "dockerfile", "makefile", "manifest", "cli", "implementation", "struct", "enum", "interface", "component",
            "hook", "migration", "schema", "stored procedure", "trigger", "cron", "one liner", "command", "commands",
            "macro", "formula", "patch", "diff", "library", "decorator", "lambda", "loop", "algorithm", "parser",
            "handler", "middleware", "docker compose", "workflow", "helm chart", "playbook", "config", "configuration",
            "fonction", "méthode", "classe", "requête", "programme", "expression régulière", "commande",
            "funktion", "methode", "klasse", "skript", "abfrage", "programm", "befehl",
            "función", "método", "clase", "consulta", "código", "programa", "expresión regular", "comando",
            "função", "classe", "consulta", "programa", "comando",
            "funzione", "metodo", "codice", "programma",
            "функцию", "функция", "функции", "метод", "класс", "скрипт", "запрос", "код", "программу", "программа",
            "регулярное", "регулярку", "команду", "тесты",
            "函数", "代码", "脚本", "程序", "查询", "正则", "类", "接口", "方法", "命令",
            "関数", "コード", "スクリプト", "プログラム", "クエリ", "正規", "クラス", "メソッド", "コマンド", "テスト",
            "함수", "코드", "스크", "쿼리",
            "markup", "svg", "docstring", "type hints", "list comprehension", "hello world", "syscall", "request", "petición", "ausdruck", "regulären ausdruck", "funkcję", "funkcja", "skrypt", "kod", "zapytanie", "functie", "query", "fonksiyon", "sorgu", "kodu",
        ]),
        (Concept.ProgLang,
        [
            "python", "javascript", "typescript", "js", "ts", "node", "nodejs", "golang", "rust", "java", "kotlin",
            "c++", "cpp", "c#", "csharp", "dotnet", "ruby", "php", "perl", "scala", "haskell",
            "elixir", "erlang", "lua", "matlab", "dart", "flutter", "sql", "postgres", "postgresql", "mysql",
            "sqlite", "tsql", "plsql", "bash", "sh", "zsh", "powershell", "shell", "html", "css", "scss", "tailwind", "react",
            "vue", "angular", "svelte", "django", "flask", "fastapi", "laravel", "linq",
            "pandas", "numpy", "pytorch", "terraform", "ansible", "kubernetes", "k8s", "kubectl", "docker", "nginx",
            "graphql", "latex", "vba", "jq", "awk", "sed", "grep", "git", "cmake", "gradle", "maven", "webpack",
            "redis", "mongodb", "kafka", "protobuf", "grpc", "wasm", "fortran", "cobol", "clojure", "ocaml",
            "f#", "zig", "nim", "solidity", "verilog", "vhdl", "prolog", "lisp", "godot",
            "svg", "curl", "wget", "http", "linux", "ubuntu", "debian", "unix", "macos", "homebrew", "in swift", "en swift", "rails", "jest", "pytest", "junit", "xunit", "nunit", "mocha", "rspec", "vitest", "cypress", "playwright", "nasm", "x86", "in go", "en go", "em go", "на go", "py",
        ]),
        (Concept.ProseNoun,
        [
            "essay", "poem", "story", "email", "e mail", "letter", "cover letter", "blog", "article", "summary", "speech",
            "haiku", "song", "lyrics", "tweet", "paragraph", "toast", "slogan", "outline", "itinerary", "recipe", "joke",
            "bio", "biography", "sonnet", "limerick", "newsletter", "press release", "announcement", "commit message",
            "release notes", "apology", "invitation", "review", "report", "memo", "proposal", "eulogy", "wedding",
            "poème", "histoire", "lettre", "courriel", "résumé", "discours", "chanson", "conte",
            "gedicht", "geschichte", "brief", "aufsatz", "zusammenfassung", "rede", "märchen",
            "poema", "cuento", "historia", "carta", "correo", "ensayo", "resumen", "discurso", "canción",
            "história", "redação", "resumo", "canção", "poesia", "lettera", "racconto", "riassunto",
            "стихотворение", "стих", "стихи", "рассказ", "письмо", "эссе", "сочинение", "статью", "песню", "поздравление",
            "诗", "故事", "文章", "邮件", "总结", "摘要", "作文", "演讲", "歌词",
            "詩", "物語", "記事", "メール", "手紙", "要約", "作文", "文章", "俳句", "スピーチ",
            "시", "편지", "메일", "요약",
            "summarize", "summarise", "paraphrase", "proofread", "sentence", "sentences", "phrase", "wording", "tone", "résume", "résumer", "phrase", "zusammen", "satz", "resume", "resuma", "frase", "резюмируй", "кратко", "предложение", "要約", "总结",
        ]),
        (Concept.Explain,
        [
            "explain", "explanation", "why", "what is", "what are", "what does", "whats", "describe", "difference",
            "differences", "compare", "comparison", "meaning", "understand", "intuition", "concept", "overview", "pros",
            "cons", "tradeoffs", "trade offs", "advantages", "disadvantages", "when should", "should i", "is it", "versus",
            "vs", "purpose", "mean", "means", "theory", "history", "tell me",
            "explique", "expliquer", "explication", "pourquoi", "différence", "qu est", "signifie", "comprendre",
            "erkläre", "erklär", "erklären", "erklärung", "warum", "wieso", "weshalb", "unterschied", "was ist", "bedeutet",
            "explica", "explícame", "explicar", "explicación", "por qué", "porqué", "diferencia", "qué es", "significa",
            "explique", "explicação", "por que", "porque", "diferença", "o que", "spiega", "perché", "differenza",
            "объясни", "объяснить", "объясните", "почему", "разница", "разницу", "отличается", "что такое", "зачем", "означает",
            "解释", "为什", "什么", "区别", "原理", "说明", "为何", "理解",
            "説明", "なぜ", "違い", "とは", "理由", "意味", "仕組", "解説",
            "설명", "차이", "왜",
        ]),
        (Concept.Fix,
        [
            "fix", "debug", "refactor", "optimize", "optimise", "rewrite", "convert", "port", "migrate", "update", "modify",
            "change", "add", "remove", "rename", "improve", "clean up", "simplify", "speed up", "make it", "turn this",
            "corrige", "corriger", "réécris", "convertis", "optimise", "refactorise", "ajoute", "modifie", "améliore",
            "korrigiere", "behebe", "repariere", "refaktoriere", "optimiere", "konvertiere", "ändere", "füge", "verbessere",
            "corrige", "arregla", "optimiza", "refactoriza", "convierte", "añade", "agrega", "modifica", "mejora",
            "corrija", "conserte", "otimize", "refatore", "converta", "adicione", "altere", "melhore", "correggi",
            "исправь", "исправить", "почини", "оптимизируй", "перепиши", "переделай", "конвертируй", "добавь", "измени", "улучши",
            "修复", "修改", "改成", "优化", "重构", "转换", "改写", "添加",
            "修正", "直し", "最適", "変換", "書き", "追加", "リファクタ", "リファクタリング",
            "수정", "고쳐", "변환", "최적",
            "faster", "make this", "make sure", "schneller", "plus rapide", "más rápido",
        ]),
        (Concept.Translate,
        [
            "translate", "translation", "traduis", "traduire", "traduction", "übersetze", "übersetzen", "übersetzung",
            "traduce", "traducir", "traducción", "traduza", "traduzir", "tradução", "traduci", "переведи", "перевести",
            "перевод", "翻译", "译成", "翻訳", "訳し", "번역",
        ]),
        (Concept.HumanLang,
        [
            "english", "french", "german", "spanish", "portuguese", "italian", "russian", "chinese", "japanese", "korean",
            "arabic", "dutch", "polish", "turkish", "hindi", "mandarin", "anglais", "français", "allemand", "espagnol",
            "englisch", "deutsch", "französisch", "spanisch", "inglés", "español", "francés", "alemán", "inglês",
            "português", "francês", "alemão", "inglese", "italiano", "английский", "английского", "английском", "русский",
            "русского", "французский", "немецкий", "英语", "中文", "英文", "法语", "日语", "英語", "日本", "中国",
            "영어", "한국",
        ]),
        (Concept.DataFormat,
        [
            "json", "yaml", "yml", "xml", "csv", "toml", "jsonl", "ndjson", "protobuf", "ini",
        ]),
        (Concept.OutputOnly,
        [
            "only", "just", "no explanation", "without explanation", "nothing else", "no prose", "no comments",
            "seulement", "uniquement", "nur", "solo", "solamente", "únicamente", "apenas", "somente", "только",
            "只", "仅", "のみ", "だけ", "만",
        ]),
        (Concept.Math,
        [
            "prove", "proof", "equation", "equations", "integral", "derivative", "theorem", "calculate", "solve",
            "probability", "matrix", "eigenvalue", "lemma", "geometry", "algebra", "calculus", "triangle", "prime",
            "démontre", "démontrer", "équation", "intégrale", "dérivée", "beweise", "beweis", "gleichung", "ableitung",
            "demuestra", "ecuación", "derivada", "demonstre", "equação", "dimostra", "докажи", "доказать", "уравнение",
            "интеграл", "производную", "производная", "证明", "方程", "积分", "导数", "証明", "積分", "微分",
            "integrate", "intégrer", "integriere", "integra",
        ]),
        (Concept.How,
        [
            "how do", "how can", "how to", "how would", "how should", "wie", "cómo", "como", "как",
            "怎么", "如何", "怎样", "どう", "방법",
        ]),
        (Concept.ProseOnly,
        [
            "no code", "without code", "prose", "plain english", "plain words", "plain language", "in words", "non technical",
            "layman", "layman s", "conceptually", "without writing", "any code", "just explain", "only explain", "not code", "no rewrite", "your reasoning",
            "sans code", "ohne code", "kein code", "sin código", "sem código", "без кода", "не нужен",
        ]),
    ];

    /// <summary>Canonical feature name of a term: "w:term" for one token, "b:first second" for two.</summary>
    public static string FeatureName(string term) => term.Contains(' ', StringComparison.Ordinal) ? "b:" + term : "w:" + term;

    /// <summary>Every term's canonical feature name with the concepts it stands for.</summary>
    public static FrozenDictionary<string, Concept> Terms { get; } = Build();

    /// <summary>The same, by feature hash (what the extractor computes from the prompt's spans).</summary>
    public static FrozenDictionary<ulong, Concept> ByHash { get; } =
        Terms.ToFrozenDictionary(t => FeatureHash.Of(t.Key), t => t.Value);

    private static FrozenDictionary<string, Concept> Build()
    {
        var terms = new Dictionary<string, Concept>(StringComparer.Ordinal);
        foreach (var (concept, list) in Lists)
        {
            foreach (var term in list)
            {
                var name = FeatureName(term);
                terms[name] = terms.GetValueOrDefault(name) | concept;
            }
        }

        return terms.ToFrozenDictionary(StringComparer.Ordinal);
    }
}
