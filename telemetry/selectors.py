"""Reads of raw telemetry: the call list (keyset pagination), one call, one trace tree."""
from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.db.models import Prefetch, Q, QuerySet

from telemetry.models import Call, Feedback, Score

LIST_FIELDS = [f.attname for f in Call._meta.concrete_fields if f.attname not in ("project_id", "processed_at")]


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
        return datetime.fromisoformat(when), int(ident)
    except (ValueError, binascii.Error, UnicodeDecodeError) as exc:
        raise InvalidCursor("cursor is not one this API returned; start again without it") from exc


def call_list(*, project_id: int, filters: CallFilters, cursor: str | None,
              limit: int) -> tuple[list[dict[str, Any]], str | None]:
    """Newest first, keyset-paginated on (start_time, id) so page N costs the same as page 1.
    Rows come back as dicts (`values()`): building model instances was most of a page's cost."""
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
    rows = list(qs.order_by("-start_time", "-id").values(*LIST_FIELDS)[: limit + 1])
    next_cursor = encode_cursor(rows[limit - 1]) if len(rows) > limit else None
    return rows[:limit], next_cursor


def call_detail(*, project_id: int, external_id: str) -> Call | None:
    return (
        Call.objects.filter(project_id=project_id, external_id=external_id)
        .select_related("payload")
        .prefetch_related(Prefetch("scores", queryset=Score.objects.order_by("created_at", "id")),
                          Prefetch("feedback", queryset=Feedback.objects.order_by("created_at", "id")))
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
