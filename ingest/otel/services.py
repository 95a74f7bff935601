"""Ingest an OTLP trace export: spans become native `span` events and go through the native path.

Each span is mapped by the conventions module into a native event, which becomes the row that
`ingest.validation.parse_item` would make of its JSON: directly (`items.span_item`, which checks
the native limits itself) when the event is plainly valid, the usual case, and otherwise through
that JSON and parse_item, which words the refusals. Either way the span meets exactly the
validation, limits, pricing, writer, idempotency and enqueueing of `POST /api/v1/ingest`. (The JSON
round trip cost ~15 µs a span, a fifth of the receiver's own Python time; the direct way half that.)
"""
from __future__ import annotations

import gc
import logging
import threading
import time
from dataclasses import dataclass
from typing import Any

import msgspec
from django.db import DatabaseError
from django.utils import timezone

from ingest import limits
from ingest.body import BodyError
from ingest.otel import otlp
from ingest.otel.conventions import ResourceInfo, span_event
from ingest.otel.items import span_item
from ingest.otel.langfuse import trace_scores_link
from ingest.services import BatchResult, items_ingest
from ingest.validation import Item, ItemError, parse_item

log = logging.getLogger(__name__)
_encode = msgspec.json.encode
MAX_REASONS = 5  # rejected spans named in partial_success.error_message; the count covers all


@dataclass
class ExportResult:
    spans: int
    batch: BatchResult
    warnings: list[str]

    @property
    def rejected(self) -> int:
        return len(self.batch.rejected)

    def message(self) -> str:
        """partial_success.error_message: why spans were refused, then what was changed to fit."""
        parts = []
        for item in self.batch.rejected[:MAX_REASONS]:
            reasons = "; ".join(f"{e['field']}: {e['message']}" if e["field"] != "$" else e["message"]
                                for e in item["errors"])
            parts.append(f"span {item['id'] or '#' + str(item['index'])} refused: {reasons}")
        if self.rejected > MAX_REASONS:
            parts.append(f"and {self.rejected - MAX_REASONS} more refused spans")
        if self.warnings:
            parts.append("accepted with changes: " + "; ".join(self.warnings[:MAX_REASONS])
                         + (f" (and {len(self.warnings) - MAX_REASONS} more)" if len(self.warnings) > MAX_REASONS
                            else ""))
        return ". ".join(parts)


def _strip_nul(value: Any) -> Any:
    if isinstance(value, str):
        return value.replace("\x00", "")
    if isinstance(value, list):
        return [_strip_nul(v) for v in value]
    if isinstance(value, dict):
        return {_strip_nul(k): _strip_nul(v) for k, v in value.items()}
    return value


# Set by instrumentations on the root span only, often (Langfuse's trace attributes, user.id).
TRACE_FIELDS = ("user_id", "session_id", "environment", "release", "tags")


def trace_attributes_share(items: list[Item]) -> None:
    """Give the spans of each trace in one export the trace-level attributes they lack: from the root
    span, else the earliest span carrying them. The worker applies the same rule across exports
    (telemetry.services._ATTRIBUTES_SQL), but a row written complete costs it nothing, while filling a
    stored row rewrites it and its indexes (~25 µs a call). A trace usually arrives whole: its spans
    end, and are exported, together."""
    traces: dict[str, list[dict[str, Any]]] = {}
    for item in items:
        if not item.errors and item.row["trace_id"]:
            traces.setdefault(item.row["trace_id"], []).append(item.row)
    for rows in traces.values():
        if len(rows) < 2:
            continue
        ordered: list[dict[str, Any]] | None = None
        for name in TRACE_FIELDS:
            lacking = [row for row in rows if not row[name]]
            if not lacking or len(lacking) == len(rows):
                continue
            if ordered is None:  # stable: spans starting together keep the export's order
                ordered = sorted(rows, key=lambda row: (row["parent_id"] != "", row["start_time"]))
            value = next(row[name] for row in ordered if row[name])
            for row in lacking:
                row[name] = list(value) if name == "tags" else value


def spans_to_items(spans: list[otlp.OtlpSpan], received_at: Any) -> tuple[list[Item], list[str]]:
    """Native items (parsed and validated rows, or errors) for the spans, and the mapping's warnings."""
    items: list[Item] = []
    warnings: list[str] = []
    resources: dict[int, ResourceInfo] = {}  # by id(): the spans of one ResourceSpans share one dict
    for index, span in enumerate(spans):
        info = resources.get(id(span.resource))
        if info is None:
            info = resources[id(span.resource)] = ResourceInfo(span.resource)
        mapped = span_event(span, info)
        if mapped.event is None:
            ident = f"{span.trace_id}:{span.span_id}" if span.trace_id or span.span_id else None
            items.append(Item(index=index, type="span", id=ident, errors=[ItemError("$", mapped.error)]))
            continue
        item = span_item(index, mapped.event, mapped.encoded)
        if item is None:  # not plainly valid: the native JSON path words the errors
            raw = _encode(mapped.event)
            if b"\\u0000" in raw:
                # PostgreSQL cannot store NUL; protobuf strings may hold it. Drop it rather than the span.
                raw = _encode(_strip_nul(mapped.event))
                mapped.warnings.append("NUL characters removed")
            item = parse_item(index, msgspec.Raw(raw), received_at)
        items.append(item)
        if mapped.warnings:
            warnings.extend(f"span {mapped.event['id']}: {w}" for w in mapped.warnings)
    trace_attributes_share(items)
    return items, warnings


class _GcPause:
    """Holds off the cyclic garbage collector while an export is ingested (nested and thread-safe:
    it resumes when the last export in the process is done, if it was running before).

    An export of 1,000 spans makes tens of thousands of objects that live until it is written (spans,
    items, rows, the writer's document). Collections during that time find them all alive and promote
    them, and every few exports that triggers a full collection, which walks the worker's whole heap:
    ~170 ms each, a fifth of the web worker's CPU in bench/otlp.py. None of these objects is in a
    reference cycle, so reference counting frees them when the export is done and, with the collector
    held off meanwhile, they are never promoted. Cycles made meanwhile are collected once it resumes.
    Under constant load exports may overlap without a gap: then a collection still runs every
    MAX_PAUSE_SECONDS, so cycles never pile up."""

    MAX_PAUSE_SECONDS = 10.0

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._depth = 0
        self._resume = False
        self._since = 0.0

    def __enter__(self) -> None:
        with self._lock:
            if self._depth == 0:
                self._resume = gc.isenabled()
                self._since = time.monotonic()
                gc.disable()
            self._depth += 1

    def __exit__(self, *exc: object) -> None:
        with self._lock:
            self._depth -= 1
            if self._depth == 0 and self._resume:
                gc.enable()
            elif self._resume and time.monotonic() - self._since > self.MAX_PAUSE_SECONDS:
                self._since = time.monotonic()
                gc.collect()


_gc_paused = _GcPause()


def otlp_traces_ingest(*, project_id: int, body: bytes, encoding: str) -> ExportResult:
    with _gc_paused:
        return _ingest(project_id, body, encoding)


def _ingest(project_id: int, body: bytes, encoding: str) -> ExportResult:
    started = time.perf_counter()
    received_at = timezone.now()
    spans = otlp.decode(body, encoding)
    if len(spans) > limits.MAX_EVENTS:
        raise BodyError(413, "too_many_events",
                        f"{len(spans)} spans in one export; the limit is {limits.MAX_EVENTS} "
                        "(OBSERVATORY_INGEST_MAX_EVENTS). Lower the batch processor's max_export_batch_size.")
    items, warnings = spans_to_items(spans, received_at)
    if not items:  # an empty export is a success (OTLP spec)
        return ExportResult(spans=0, batch=BatchResult(), warnings=[])
    batch = items_ingest(project_id=project_id, items=items, received_at=received_at, started=started)
    roots = sorted({item.row["trace_id"] for item in items if not item.errors and item.row.get("parent_id") == ""})
    try:
        trace_scores_link(project_id=project_id, trace_ids=roots)
    except DatabaseError:  # the spans are committed; an unlinked score must not fail the export
        log.warning("could not link trace-level scores of project %s", project_id, exc_info=True)
    return ExportResult(spans=len(spans), batch=batch, warnings=warnings)
