// Imported first by the tests that read the handlers' log lines: Powertools reads these when the logger
// and metrics singletons are built, and the logger resets to this level at every invocation.
process.env.POWERTOOLS_LOG_LEVEL = 'INFO';
process.env.POWERTOOLS_METRICS_DISABLED = 'true';
