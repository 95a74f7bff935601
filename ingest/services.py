"""Ingest a batch: validate each event, price the calls, write them, enqueue the workers."""
from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import msgspec
from django.db import transaction
from django.utils import timezone

from ingest import limits, metrics
from ingest.body import BodyError
from ingest.schema import envelope_decoder
from ingest.validation import Item, ItemError, parse_item, shallow
from ingest.writer import write_batch
from pricing.catalog import cost_fields
from quality.redaction import call_redact, redaction_for, redaction_score

log = logging.getLogger(__name__)


@dataclass
class BatchResult:
    accepted: int = 0
    duplicates: list[dict[str, Any]] = field(default_factory=list)
    rejected: list[dict[str, Any]] = field(default_factory=list)
    changed: list[dict[str, Any]] = field(default_factory=list)  # accepted, not as sent (a payload cut)

    @property
    def status_code(self) -> int:
        # Nothing stored and nothing already there: the whole batch failed, which a client must not
        # mistake for a partial success (422, with the same body naming each event's errors).
        if self.rejected and not self.accepted and not self.duplicates:
            return 422
        return 207 if self.rejected else 202

    def as_dict(self) -> dict[str, Any]:
        return {"accepted": self.accepted, "duplicates": len(self.duplicates), "rejected": len(self.rejected),
                "changed": len(self.changed), "duplicate_items": self.duplicates, "rejected_items": self.rejected,
                "changed_items": self.changed}


def parse_envelope(body: bytes) -> list[msgspec.Raw]:
    try:
        try:
            envelope = envelope_decoder.decode(body)
        except RecursionError:
            # Too deep to split into events (~1,000 levels): cut what is deeper than any event may
            # be, so that each deep event is refused on its own (parse_item) and the rest land.
            envelope = envelope_decoder.decode(shallow(body, limits.MAX_DEPTH + 3))
    except msgspec.ValidationError as exc:
        raise BodyError(400, "invalid_body", f'The body must be {{"events": [...]}}: {exc}.') from None
    except msgspec.DecodeError as exc:
        raise BodyError(400, "invalid_json", f"The body is not valid JSON: {exc}.") from None
    if not envelope.events:
        raise BodyError(400, "empty_batch", '"events" is empty: send at least one event.')
    if len(envelope.events) > limits.MAX_EVENTS:
        raise BodyError(413, "too_many_events",
                        f"{len(envelope.events)} events in one batch; the limit is {limits.MAX_EVENTS} "
                        "(OBSERVATORY_INGEST_MAX_EVENTS). Split the batch.")
    return envelope.events


def _price(project_id: int, row: dict[str, Any]) -> None:
    provided = row.pop("cost_usd")
    if provided is not None:
        row.update(cost_input_usd=None, cost_output_usd=None, cost_total_usd=provided, cost_source="provided")
        return
    row.update(cost_fields(project_id=project_id, provider=row["provider"], model=row["model"],
                           on=row["start_time"].date(), input_tokens=row["input_tokens"],
                           output_tokens=row["output_tokens"], cached_input_tokens=row["cached_input_tokens"]))


def batch_ingest(*, project_id: int, body: bytes) -> BatchResult:
    started = time.perf_counter()
    received_at = timezone.now()
    raws = parse_envelope(body)
    items = [parse_item(index, raw, received_at) for index, raw in enumerate(raws)]
    return items_ingest(project_id=project_id, items=items, received_at=received_at, started=started)


def items_ingest(*, project_id: int, items: list[Item], received_at: datetime,
                 started: float | None = None) -> BatchResult:
    """Price, write and enqueue already-parsed items (native events, or spans the OTLP receiver
    turned into native events). Items that carry errors are reported as rejected."""
    started = time.perf_counter() if started is None else started
    result = BatchResult()

    seen: dict[tuple[str, str], int] = {}
    by_kind: dict[str, list[Item]] = {"call": [], "feedback": [], "score": []}
    # PII redaction (per project) happens here, before anything is written.
    redaction = redaction_for(project_id)
    extra_scores: list[dict[str, Any]] = []
    for item in items:
        if item.errors:
            continue
        kind = "call" if item.type in ("call", "span") else item.type
        key = (kind, item.row["external_id"])
        if key in seen:  # the same id twice in one batch: the first one wins
            result.duplicates.append({"index": item.index, "id": item.id, "type": item.type})
            continue
        seen[key] = item.index
        if kind == "call":
            _price(project_id, item.row)
            if redaction[0] != "off":
                counts = call_redact(item.row, *redaction)
                if counts:
                    extra_scores.append(redaction_score(item.row, redaction[0], counts))
        by_kind[kind].append(item)

    with transaction.atomic():
        calls, feedback, scores, refused = write_batch(
            project_id=project_id, received_at=received_at,
            calls=[i.row for i in by_kind["call"]], feedback=[i.row for i in by_kind["feedback"]],
            scores=[i.row for i in by_kind["score"]] + extra_scores)
        if calls or feedback or scores:
            transaction.on_commit(lambda: _enqueue(project_id))

    inserted = {"call": calls, "feedback": feedback, "score": scores}
    counts: dict[tuple[str, str], int] = {}  # (type, outcome) -> events; one metrics update per pair
    for kind, kind_items in by_kind.items():
        for item in kind_items:
            external_id = item.row["external_id"]
            if external_id in refused and external_id not in inserted[kind]:
                item.errors.append(ItemError("$", refused[external_id]))
            elif external_id in inserted[kind]:
                result.accepted += 1
                if item.changes:
                    result.changed.append({"index": item.index, "id": item.id, "type": item.type, "changes": [
                        {"field": c.field, "message": c.message} for c in item.changes]})
                counts[(item.type, "accepted")] = counts.get((item.type, "accepted"), 0) + 1
            else:
                result.duplicates.append({"index": item.index, "id": item.id, "type": item.type})
    for item in items:
        if item.errors:
            result.rejected.append({"index": item.index, "id": item.id, "type": item.type or None,
                                    "errors": [{"field": e.field, "message": e.message} for e in item.errors]})
            key = (item.type or "unknown", "rejected")
            counts[key] = counts.get(key, 0) + 1
    for (event_type, outcome), count in counts.items():
        metrics.EVENTS.labels(event_type, outcome).inc(count)
    result.rejected.sort(key=lambda r: r["index"])
    result.duplicates.sort(key=lambda r: r["index"])
    result.changed.sort(key=lambda r: r["index"])
    metrics.EVENTS.labels("any", "duplicate").inc(len(result.duplicates))
    metrics.INGEST_SECONDS.observe(time.perf_counter() - started)
    return result


def _enqueue(project_id: int) -> None:
    # The events are committed; if the broker is down the sweeper picks them up later. Redis calls
    # give up after OBSERVATORY_REDIS_TIMEOUT_MS, and after a failure the breaker skips them for
    # OBSERVATORY_ENQUEUE_COOLDOWN_SECONDS, so an outage costs one request one timeout.
    from observatory.breaker import CircuitOpen
    from telemetry.services import processing_request

    try:
        processing_request(project_id=project_id)
    except CircuitOpen:
        metrics.ENQUEUE_FAILURES.labels("skipped").inc()
    except Exception:  # noqa: BLE001 - a broker outage must never fail an acknowledged ingest
        metrics.ENQUEUE_FAILURES.labels("failed").inc()
        log.warning("could not enqueue processing for project %s; the sweeper will", project_id, exc_info=True)
