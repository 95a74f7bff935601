"""Prometheus metrics of the ingest path (served on /metrics)."""
from prometheus_client import Counter, Histogram

EVENTS = Counter("observatory_ingest_events_total", "Events received, by type and outcome", ["type", "outcome"])
REQUESTS = Counter("observatory_ingest_requests_total", "Ingest requests by HTTP status", ["status"])
INGEST_SECONDS = Histogram("observatory_ingest_batch_seconds", "Time to validate and store one batch",
                           buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10))
# outcome: "failed" (tried; Redis refused or timed out) or "skipped" (the breaker was open after a
# recent failure). Either way the sweeper recovers the work.
ENQUEUE_FAILURES = Counter("observatory_enqueue_failures_total",
                           "Times a worker task was not enqueued after ingest (the sweeper recovers)", ["outcome"])
