"""Reads of the users & sessions pages: one user's or session's totals from the daily entity
rollups, and the feedback given on their calls."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

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
    """Calls, errors, tokens and cost of one user or session over the days covering the range.
    `bucket = ANY(days)` makes one probe of the entityrollup_key index per day, where a bucket
    range would walk every user's rows of those days."""
    with connection.cursor() as cur:
        cur.execute(
            "SELECT coalesce(sum(calls), 0), coalesce(sum(errors), 0), coalesce(sum(tokens), 0), sum(cost_usd)"
            " FROM rollups_entityrollup WHERE project_id = %s AND entity = %s AND bucket = ANY(%s) AND key = %s",
            [project_id, entity, days_covering(start, end), key])
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
