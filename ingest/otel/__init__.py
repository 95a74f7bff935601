"""OpenTelemetry (OTLP/HTTP) and Langfuse-compatible ingestion on top of the native ingest path."""
