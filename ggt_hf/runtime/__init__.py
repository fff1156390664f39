"""Process-level helpers: concurrency, memory, network probe, secret redaction, error reporting, user code."""
