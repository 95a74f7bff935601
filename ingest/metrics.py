"""Prometheus metrics of the ingest path (served on /metrics).

Every label value is drawn from a fixed set: a client chooses the event `type` (and, indirectly,
the status), and each new value would be a new series on every scrape (21 requests once made
21,000 series). Anything outside a label's set is counted as "other".
"""
from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from prometheus_client import Counter, Histogram

OTHER = "other"
# "any" labels duplicates (counted per batch, not per type); "unknown" an event without a `type`.
EVENT_TYPES = frozenset({"call", "span", "feedback", "score", "any", "unknown"})
EVENT_OUTCOMES = frozenset({"accepted", "rejected", "duplicate"})
# Every status the ingest endpoints (JSON, OTLP, Langfuse) answer with.
REQUEST_STATUSES = frozenset({"200", "202", "207", "400", "401", "403", "404", "405", "409", "413", "415", "422", "429",
                              "500", "503"})
ENQUEUE_OUTCOMES = frozenset({"failed", "skipped"})


class _Bounded:
    """A labelled metric whose `.labels()` maps each value outside its known set to "other"."""

    def __init__(self, metric: Any, allowed: Iterable[frozenset[str]]) -> None:
        self._metric = metric
        self._allowed = tuple(allowed)

    def labels(self, *values: object) -> Any:
        if len(values) != len(self._allowed):
            raise ValueError(f"expected {len(self._allowed)} label values, got {len(values)}")
        return self._metric.labels(*(v if (v := str(value)) in allowed else OTHER
                                     for value, allowed in zip(values, self._allowed, strict=True)))

    def __getattr__(self, name: str) -> Any:
        return getattr(self._metric, name)


EVENTS = _Bounded(Counter("observatory_ingest_events_total", "Events received, by type and outcome",
                          ["type", "outcome"]), [EVENT_TYPES, EVENT_OUTCOMES])
REQUESTS = _Bounded(Counter("observatory_ingest_requests_total", "Ingest requests by HTTP status", ["status"]),
                    [REQUEST_STATUSES])
INGEST_SECONDS = Histogram("observatory_ingest_batch_seconds", "Time to validate and store one batch",
                           buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10))
# outcome: "failed" (tried; Redis refused or timed out) or "skipped" (the breaker was open after a
# recent failure). Either way the sweeper recovers the work.
ENQUEUE_FAILURES = _Bounded(Counter("observatory_enqueue_failures_total",
                                    "Times a worker task was not enqueued after ingest (the sweeper recovers)",
                                    ["outcome"]), [ENQUEUE_OUTCOMES])
