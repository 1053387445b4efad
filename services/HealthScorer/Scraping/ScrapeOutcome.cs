namespace Platform.HealthScorer.Scraping;

/// <summary>Why a scrape failed (a closed set; the metric tag <c>reason</c> is its snake_case name).</summary>
internal enum ScrapeFailure
{
    None,

    /// <summary>No complete answer within the scrape timeout.</summary>
    Timeout,

    /// <summary>Connection refused or reset, DNS, TLS: nothing answered.</summary>
    Connect,

    /// <summary>/metrics answered with a status other than 200.</summary>
    HttpStatus,

    /// <summary>The body is larger than the limit (reading stops there).</summary>
    BodyTooLarge,

    /// <summary>The body ends in the middle of a line: cut, so none of it is used.</summary>
    Truncated,

    /// <summary>/metrics was read but /health did not answer 200 (the engine says it cannot serve).</summary>
    Health,
}

/// <summary>
/// What one engine's scrape brought: the metrics (when /metrics was read whole), whether /health said 200, the
/// /version when it was asked, and the first failure. Invalid lines in an otherwise whole body are not a failure
/// (the valid lines are used) but are reported by <see cref="VllmScrape.InvalidLines"/>.
/// </summary>
internal readonly record struct ScrapeOutcome(
    ScrapeFailure Failure,
    string Detail,
    VllmScrape? Metrics,
    bool HealthOk,
    string? Version,
    TimeSpan Duration)
{
    public bool Succeeded => Failure == ScrapeFailure.None;

    public static string ReasonTag(ScrapeFailure failure) => failure switch
    {
        ScrapeFailure.Timeout => "timeout",
        ScrapeFailure.Connect => "connect",
        ScrapeFailure.HttpStatus => "http_status",
        ScrapeFailure.BodyTooLarge => "body_too_large",
        ScrapeFailure.Truncated => "truncated",
        ScrapeFailure.Health => "health",
        _ => "none",
    };
}
