"""Reads of raw telemetry: the call list (keyset pagination), one call, one trace tree."""
from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any

from django.db.models import Prefetch, Q, QuerySet
from django.db.models.expressions import RawSQL

from telemetry.models import Call, Feedback, Score

LIST_FIELDS = [f.attname for f in Call._meta.concrete_fields if f.attname != "project_id"]


class InvalidCursor(ValueError):
    pass


@dataclass(frozen=True)
class CallFilters:
    start: datetime | None = None
    end: datetime | None = None
    model: str | None = None
    provider: str | None = None
    status: str | None = None
    kind: str | None = None
    user_id: str | None = None
    session_id: str | None = None
    feature: str | None = None
    team: str | None = None
    environment: str | None = None
    prompt_name: str | None = None
    prompt_version: str | None = None
    trace_id: str | None = None
    tag: str | None = None


def encode_cursor(row: dict[str, Any]) -> str:
    raw = f"{row['start_time'].isoformat()}|{row['id']}".encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[datetime, int]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        when, _, ident = raw.partition("|")
        moment = datetime.fromisoformat(when)
        # Cursors this API made are UTC; a forged offset could be one PostgreSQL refuses (past ±15:59).
        offset = moment.utcoffset()
        if offset is None or abs(offset) > timedelta(hours=14):
            raise ValueError("not a time zone's offset")
        return moment.astimezone(timezone.utc), int(ident)
    except (ValueError, OverflowError, binascii.Error, UnicodeDecodeError) as exc:
        raise InvalidCursor("cursor is not one this API returned; start again without it") from exc


def _filtered(project_id: int, filters: CallFilters, cursor: str | None) -> QuerySet[Call]:
    qs: QuerySet[Call] = Call.objects.filter(project_id=project_id)
    if filters.start:
        qs = qs.filter(start_time__gte=filters.start)
    if filters.end:
        qs = qs.filter(start_time__lt=filters.end)
    exact = {name: getattr(filters, name) for name in
             ("model", "provider", "status", "kind", "user_id", "session_id", "feature", "team", "environment",
              "prompt_name", "prompt_version", "trace_id")}
    qs = qs.filter(**{name: value for name, value in exact.items() if value is not None})
    if filters.tag:
        qs = qs.filter(tags__contains=[filters.tag])
    if cursor:
        when, ident = decode_cursor(cursor)
        qs = qs.filter(Q(start_time__lt=when) | Q(start_time=when, id__lt=ident))
    return qs.order_by("-start_time", "-id")


def call_list(*, project_id: int, filters: CallFilters, cursor: str | None,
              limit: int) -> tuple[list[dict[str, Any]], str | None]:
    """Newest first, keyset-paginated on (start_time, id) so page N costs the same as page 1."""
    rows = list(_filtered(project_id, filters, cursor).values(*LIST_FIELDS)[: limit + 1])
    next_cursor = encode_cursor(rows[limit - 1]) if len(rows) > limit else None
    return rows[:limit], next_cursor


def _ts(column: str) -> str:
    return f"to_char({column} AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"')"


# The API shape of a call (telemetry.serializers.call_dict), built by PostgreSQL: a page of JSON
# listed for exporters and dashboards costs ~30 us per row this way against ~110 us in Python.
# tests/telemetry/test_apis.py checks the two give the same document.
CALL_JSON_SQL = f"""json_build_object(
    'id', external_id, 'trace_id', trace_id, 'parent_id', parent_id, 'kind', kind, 'name', name,
    'start_time', {_ts("start_time")}, 'end_time', {_ts("end_time")}, 'latency_ms', latency_ms, 'ttft_ms', ttft_ms,
    'provider', provider, 'model', model, 'operation', operation, 'status', status,
    'error', CASE WHEN error_type <> '' OR error_message <> ''
                  THEN json_build_object('type', error_type, 'message', error_message) END,
    'usage', json_build_object('input_tokens', input_tokens, 'output_tokens', output_tokens,
                               'cached_input_tokens', cached_input_tokens, 'reasoning_tokens', reasoning_tokens,
                               'total_tokens', total_tokens),
    'cost', json_build_object('input_usd', trim_scale(cost_input_usd)::text,
                              'output_usd', trim_scale(cost_output_usd)::text,
                              'total_usd', trim_scale(cost_total_usd)::text, 'source', cost_source),
    'prompt', CASE WHEN prompt_name <> '' OR prompt_version <> ''
                   THEN json_build_object('name', prompt_name, 'version', prompt_version) END,
    'user_id', user_id, 'session_id', session_id, 'feature', feature, 'team', team, 'environment', environment,
    'release', release, 'params', params, 'tags', to_json(tags), 'metadata', metadata,
    'received_at', {_ts("received_at")})::text"""


def call_list_json(*, project_id: int, filters: CallFilters, cursor: str | None,
                   limit: int) -> tuple[list[str], str | None]:
    """call_list, with each call already rendered as JSON text by the database."""
    rows = list(_filtered(project_id, filters, cursor).annotate(doc=RawSQL(CALL_JSON_SQL, []))
                .values_list("id", "start_time", "doc")[: limit + 1])
    next_cursor = (encode_cursor({"id": rows[limit - 1][0], "start_time": rows[limit - 1][1]})
                   if len(rows) > limit else None)
    return [doc for _, _, doc in rows[:limit]], next_cursor


def call_detail(*, project_id: int, external_id: str) -> Call | None:
    return (
        Call.objects.filter(project_id=project_id, external_id=external_id)
        .select_related("payload", "evaluation")
        .prefetch_related(Prefetch("scores", queryset=Score.objects.order_by("created_at", "id")),
                          Prefetch("feedback", queryset=Feedback.objects.order_by("created_at", "id")), "flags")
        .first()
    )


def trace_tree(*, project_id: int, trace_id: str) -> dict[str, Any] | None:
    """The spans of a trace nested by parent id. Spans whose parent is missing become roots."""
    spans = list(Call.objects.filter(project_id=project_id, trace_id=trace_id).only(*LIST_FIELDS)
                 .order_by("start_time", "id"))
    if not spans:
        return None
    nodes: dict[str, dict[str, Any]] = {s.external_id: {"call": s, "children": []} for s in spans}
    roots = []
    for span in spans:
        parent = nodes.get(span.parent_id) if span.parent_id and span.parent_id != span.external_id else None
        (parent["children"] if parent else roots).append(nodes[span.external_id])
    start = min(s.start_time for s in spans)
    end = max((s.end_time or s.start_time) for s in spans)
    return {"trace_id": trace_id, "start_time": start, "end_time": end, "span_count": len(spans),
            "roots": roots, "name": roots[0]["call"].name if roots else ""}
