using Microsoft.Extensions.Logging;

namespace Platform.AppHost.Output;

/// <summary>The AppHost's own log, written through <see cref="ConsoleMux"/> with the prefix "apphost".</summary>
internal sealed class MuxLoggerProvider(ConsoleMux mux) : ILoggerProvider
{
    public const string Source = "apphost";

    public ILogger CreateLogger(string categoryName) => new MuxLogger(mux);

    public void Dispose()
    {
    }

    private sealed class MuxLogger(ConsoleMux mux) : ILogger
    {
        public IDisposable? BeginScope<TState>(TState state) where TState : notnull => null;

        public bool IsEnabled(LogLevel logLevel) => logLevel != LogLevel.None;

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
        {
            if (!IsEnabled(logLevel))
            {
                return;
            }

            var level = logLevel switch
            {
                LogLevel.Trace => "trce",
                LogLevel.Debug => "dbug",
                LogLevel.Information => "info",
                LogLevel.Warning => "warn",
                LogLevel.Error => "fail",
                _ => "crit",
            };
            var message = formatter(state, exception);
            var isError = logLevel >= LogLevel.Warning;
            mux.WriteLine(Source, $"{level}: {message}", isError);
            if (exception is not null)
            {
                foreach (var line in exception.ToString().Split('\n'))
                {
                    mux.WriteLine(Source, "      " + line.TrimEnd('\r'), isError);
                }
            }
        }
    }
}
