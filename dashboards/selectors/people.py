"""Reads of the users & sessions pages: one user's or session's totals from the daily entity
rollups, and the feedback given on their calls."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

from django.core.cache import cache
from django.db import connection
from django.db.models import Count, Q

from telemetry.models import Call, Feedback

ENTITY_FIELDS = {"user": "user_id", "session": "session_id"}
# Feedback is read for an entity's newest calls in the range, at most this many: counting it over
# a bot "user" with millions of calls would walk them all. The page says when the cap applied.
FEEDBACK_CALLS = 5000
COMMENTS = 10


def days_covering(start: datetime, end: datetime) -> list[datetime]:
    """The UTC days whose buckets cover [start, end): what rollups.selectors.top_entities sums."""
    day = start.astimezone(timezone.utc).replace(hour=0, minute=0, second=0, microsecond=0)
    days = []
    while day < end:
        days.append(day)
        day += timedelta(days=1)
    return days


def entity_totals(*, project_id: int, entity: str, key: str, start: datetime, end: datetime) -> dict[str, Any]:
    """Calls, errors, tokens and cost of one user or session over the days covering the range:
    one probe of the entityrollup_key index per day. Written as a LATERAL per day with OFFSET 0
    (which keeps PostgreSQL from flattening it) because `bucket = ANY(days)` was planned, on a
    table never analysed, as an index scan on (project, entity) filtering key and bucket: 45,000
    pages and 430 ms at 10M calls a month instead of 31 probes and 1 ms."""
    with connection.cursor() as cur:
        cur.execute(
            "SELECT coalesce(sum(r.calls), 0), coalesce(sum(r.errors), 0), coalesce(sum(r.tokens), 0),"
            " sum(r.cost_usd) FROM unnest(%s::timestamptz[]) AS d(day) CROSS JOIN LATERAL ("
            "  SELECT calls, errors, tokens, cost_usd FROM rollups_entityrollup WHERE project_id = %s"
            "  AND entity = %s AND bucket = d.day AND key = %s OFFSET 0) r",
            [days_covering(start, end), project_id, entity, key])
        calls, errors, tokens, cost = cur.fetchone()
    return {"calls": int(calls), "errors": int(errors), "tokens": int(tokens), "cost_usd": cost,
            "error_rate": errors / calls if calls else None}


def entity_exists(*, project_id: int, entity: str, key: str) -> bool:
    """Whether the project ever saw this user or session: one probe of its partial index."""
    return Call.objects.filter(project_id=project_id, **{ENTITY_FIELDS[entity]: key}).exists()


def entity_feedback(*, project_id: int, entity: str, key: str, start: datetime, end: datetime) -> dict[str, Any]:
    """Thumbs up/down on the entity's calls in the range and the latest comments (two queries,
    both driven by call_project_user_time / call_project_session_time, then feedback_call)."""
    calls = (Call.objects.filter(project_id=project_id, start_time__gte=start, start_time__lt=end,
                                 **{ENTITY_FIELDS[entity]: key})
             .order_by("-start_time", "-id").values("id")[:FEEDBACK_CALLS])
    given = Feedback.objects.filter(call_id__in=calls)
    totals = given.aggregate(up=Count("id", filter=Q(thumbs=1)), down=Count("id", filter=Q(thumbs=-1)))
    latest = list(given.exclude(comment="").order_by("-created_at", "-id")
                  .values("comment", "thumbs", "rating", "created_at", "end_user_id", "call__external_id")
                  [:COMMENTS])
    return {"up": totals["up"], "down": totals["down"], "comments": latest, "cap": FEEDBACK_CALLS}


TOP_CACHE_SECONDS = 600
ORDER_COLUMNS = {"cost": "cost", "calls": "calls", "errors": "errors"}


def _top_all(*, project_id: int, entity: str, days: list[datetime], limit: int) -> dict[str, list[dict[str, Any]]]:
    """The top `limit` users or sessions by cost, by calls and by errors over whole UTC days: one
    aggregation for the three orders (the grouping is the expensive part: ~1 s for the 190k
    sessions of a day at 10M calls a month, several seconds over 30 days)."""
    ranks = ", ".join(f"row_number() OVER (ORDER BY {column} DESC, key) AS r_{order}"
                      for order, column in ORDER_COLUMNS.items())
    keep = " OR ".join(f"r_{order} <= %(limit)s" for order in ORDER_COLUMNS)
    with connection.cursor() as cur:
        cur.execute(
            f"WITH agg AS (SELECT key, sum(calls) AS calls, sum(errors) AS errors, sum(tokens) AS tokens,"
            f" sum(cost_usd) AS cost FROM rollups_entityrollup WHERE project_id = %(project)s"
            f" AND entity = %(entity)s AND bucket = ANY(%(days)s) GROUP BY key)"
            f" SELECT key, calls, errors, tokens, cost, {', '.join(f'r_{o}' for o in ORDER_COLUMNS)}"
            f" FROM (SELECT *, {ranks} FROM agg) ranked WHERE {keep}",
            {"project": project_id, "entity": entity, "days": days, "limit": limit})
        rows = cur.fetchall()
    out: dict[str, list[dict[str, Any]]] = {}
    for i, order in enumerate(ORDER_COLUMNS):
        chosen = sorted((r for r in rows if r[5 + i] <= limit), key=lambda r: r[5 + i])
        out[order] = [{"key": key, "calls": int(calls), "errors": int(errors), "tokens": int(tokens),
                       "cost_usd": cost} for key, calls, errors, tokens, cost, *_ in chosen]
    return out


def _top_key(project_id: int, entity: str, days: list[datetime]) -> str:
    return f"dashboards:top:{project_id}:{entity}:{days[0]:%Y%m%d}:{len(days)}"


def top_entities_cached(*, project_id: int, entity: str, start: datetime, end: datetime, order: str,
                        limit: int, refresh: bool = False) -> list[dict[str, Any]]:
    """Top users or sessions for the whole UTC days covering the range, from a cache that
    dashboards.tasks.warm_top_entities refreshes every few minutes for the preset ranges, so a
    page never waits for the grouping; other ranges compute once and are kept for a while."""
    days = days_covering(start, end)
    key = _top_key(project_id, entity, days)
    tops = None if refresh else cache.get(key)
    if tops is None:
        tops = _top_all(project_id=project_id, entity=entity, days=days, limit=limit)
        cache.set(key, tops, TOP_CACHE_SECONDS)
    return [dict(row) for row in tops[order]]
