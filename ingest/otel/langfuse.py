"""Langfuse scores as native `score` events, and linking trace-level scores to their root span.

Langfuse SDKs (v3 and later) send traces over OTLP, which the OTLP receiver handles; scores go
to `POST /api/public/scores` (v5) or as `score-create` events to `POST /api/public/ingestion`
(older SDKs). A score of an observation belongs to the call `<traceId>:<observationId>`; a score
of a whole trace belongs to the trace's root span, which may arrive before or after it. As in
Langfuse, a score id is an upsert key: a score re-sent with a stored id replaces that score.
"""
from __future__ import annotations

import uuid
from typing import Any

import msgspec
from django.db import connection, transaction
from django.utils import timezone

from ingest import limits
from ingest.otel.conventions import external_id
from ingest.services import BatchResult, _enqueue, items_ingest
from ingest.validation import Item, ItemError, parse_item
from ingest.writer import scores_replace

# A trace-level score whose root span has not arrived yet waits under this call id; the OTLP
# receiver re-points it when the root span is stored (trace_scores_link).
TRACE_PLACEHOLDER = "{}:trace"
SOURCES = {"API": "api", "ANNOTATION": "human", "EVAL": "judge"}
_ROOT_SQL = ("SELECT external_id FROM telemetry_call WHERE project_id = %s AND trace_id = %s AND parent_id = '' "
             "ORDER BY start_time LIMIT 1")
_LINK_SQL = """
UPDATE telemetry_score s SET call_external_id = c.external_id, call_id = c.id
FROM unnest(%s::text[]) AS r(trace_id)
JOIN telemetry_call c ON c.project_id = %s AND c.trace_id = r.trace_id AND c.parent_id = ''
WHERE s.project_id = %s AND s.call_id IS NULL AND s.call_external_id = r.trace_id || ':trace'
"""


def _root_call(project_id: int, trace_id: str) -> str | None:
    with connection.cursor() as cur:
        cur.execute(_ROOT_SQL, [project_id, trace_id])
        row = cur.fetchone()
    return row[0] if row else None


def score_event(score: Any, project_id: int) -> tuple[dict[str, Any] | None, str]:
    """A native score event for one Langfuse score body, or why it cannot be one."""
    if not isinstance(score, dict):
        return None, "a score must be a JSON object"
    # Read with str() below: anything but a string (an object, a number) is a client's mistake to report.
    for key in ("id", "traceId", "observationId", "source", "dataType"):
        if score.get(key) is not None and not isinstance(score[key], str):
            return None, f"{key} must be a string"
        if "\x00" in (score.get(key) or ""):  # before the trace lookup: PostgreSQL cannot hold a NUL
            return None, f"{key} contains a NUL character (\\u0000), which cannot be stored; remove it"
    trace_id = str(score.get("traceId") or "").lower()
    observation_id = str(score.get("observationId") or "").lower()
    if not trace_id:
        return None, ("only scores of a trace or an observation are supported (traceId is required; "
                      "session and dataset-run scores are not)")
    if observation_id:
        call_id = external_id(trace_id, observation_id)
    else:
        call_id = _root_call(project_id, trace_id) or TRACE_PLACEHOLDER.format(trace_id)
    event: dict[str, Any] = {"type": "score", "id": str(score.get("id") or uuid.uuid4().hex), "call_id": call_id,
                             "name": score.get("name"), "source": SOURCES.get(str(score.get("source")), "api")}
    value = score.get("value")
    extra: dict[str, Any] = {}
    if isinstance(value, bool):
        event["value"] = float(value)
    elif isinstance(value, (int, float)):
        event["value"] = value
    elif isinstance(value, str):  # categorical and text scores
        event["label"] = value[: limits.MAX_DIMENSION]
        if len(value) > limits.MAX_DIMENSION:
            extra["text_value"] = value
    if score.get("dataType") == "BOOLEAN" and "value" in event:
        event["label"] = "true" if event["value"] else "false"
    for key in ("comment", "timestamp"):
        if score.get(key) is not None:
            event[key] = score[key]
    metadata = score.get("metadata")
    if metadata is not None and not isinstance(metadata, dict):
        metadata = {"metadata": metadata}
    extra.update({k: score[k] for k in ("dataType", "environment", "configId", "queueId", "sessionId")
                  if score.get(k) is not None})
    if extra:
        metadata = {**(metadata or {}), "langfuse": extra}
    if metadata:
        event["metadata"] = metadata
    return event, ""


def scores_ingest(*, project_id: int, scores: list[Any]) -> BatchResult:
    received_at = timezone.now()
    items: list[Item] = []
    for index, score in enumerate(scores):
        event, error = score_event(score, project_id)
        if event is None:
            ident = score.get("id") if isinstance(score, dict) else None
            items.append(Item(index=index, type="score", id=ident, errors=[ItemError("$", error)]))
        else:
            items.append(parse_item(index, msgspec.Raw(msgspec.json.encode(event)), received_at))
    result = items_ingest(project_id=project_id, items=items, received_at=received_at)
    if result.duplicates:
        _duplicates_replace(project_id, items, result)
    return result


def _duplicates_replace(project_id: int, items: list[Item], result: BatchResult) -> None:
    """Ingest stored new ids and reported the others as duplicates: those replace the stored
    scores, the last of a batch winning as it would in Langfuse. The signal fold then moves the
    rollups from the old value to the new one."""
    by_index = {item.index: item for item in items}
    last: dict[str, int] = {}
    for duplicate in result.duplicates:
        last[by_index[duplicate["index"]].row["external_id"]] = duplicate["index"]
    with transaction.atomic():
        replaced, refused = scores_replace(project_id=project_id,
                                           scores=[by_index[index].row for index in last.values()])
        if replaced:
            transaction.on_commit(lambda: _enqueue(project_id))
    kept = []
    for duplicate in result.duplicates:
        external_id = by_index[duplicate["index"]].row["external_id"]
        if last[external_id] != duplicate["index"]:
            kept.append(duplicate)
        elif external_id in replaced:
            result.accepted += 1
        elif external_id in refused:
            result.rejected.append({**duplicate, "errors": [{"field": "$", "message": refused[external_id]}]})
        else:  # the same score again, or an evaluator's: unchanged
            kept.append(duplicate)
    result.duplicates = kept
    result.rejected.sort(key=lambda r: r["index"])


def trace_scores_link(*, project_id: int, trace_ids: list[str]) -> int:
    """Attach waiting trace-level scores to root spans just stored. Returns how many were linked."""
    if not trace_ids:
        return 0
    with connection.cursor() as cur:
        cur.execute(_LINK_SQL, [trace_ids, project_id, project_id])
        return cur.rowcount
