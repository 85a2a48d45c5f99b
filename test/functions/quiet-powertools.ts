// Imported first by the handler tests: Powertools reads these when the logger and metrics singletons
// are built, so the test output stays readable (nothing here changes what the handlers return).
process.env.POWERTOOLS_LOG_LEVEL = 'SILENT';
process.env.POWERTOOLS_METRICS_DISABLED = 'true';
