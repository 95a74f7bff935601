"""Queue health as an alerts metric source ("backlog over 200", "oldest item over 24 h"):
registered from ReviewConfig.ready() when the alerts app is installed; alerts never imports review.

Measures: `backlog` (open items now), `oldest_pending_seconds` (age of the oldest open item now; 0
with no backlog), `done` (items completed in the window) and `left_out` (calls the daily cap left
out on the window's UTC days). Group by `queue` (its slug) or not at all; filter with
`{"queue": [slugs]}`. backlog and oldest_pending_seconds are states, not history: they take the
threshold condition only."""
from __future__ import annotations

from typing import Any

from django.db import connection
from django.utils import timezone

MEASURES = ("backlog", "oldest_pending_seconds", "done", "left_out")
STATES = ("backlog", "oldest_pending_seconds")

_SQL = {
    "backlog": "SELECT q.slug, count(i.id), count(i.id) FROM review_queue q LEFT JOIN review_item i"
               " ON i.queue_id = q.id AND i.status IN ('pending', 'in_review') WHERE q.project_id = %(project)s"
               " AND (%(queues)s::text[] IS NULL OR q.slug = ANY(%(queues)s)) GROUP BY q.slug",
    "oldest_pending_seconds": "SELECT q.slug, COALESCE(extract(epoch FROM %(now)s - min(i.created_at)), 0),"
                              " count(i.id) FROM review_queue q LEFT JOIN review_item i ON i.queue_id = q.id"
                              " AND i.status IN ('pending', 'in_review') WHERE q.project_id = %(project)s"
                              " AND (%(queues)s::text[] IS NULL OR q.slug = ANY(%(queues)s)) GROUP BY q.slug",
    "done": "SELECT q.slug, count(i.id), count(i.id) FROM review_queue q LEFT JOIN review_item i"
            " ON i.queue_id = q.id AND i.done_at >= %(start)s AND i.done_at < %(end)s WHERE q.project_id = %(project)s"
            " AND (%(queues)s::text[] IS NULL OR q.slug = ANY(%(queues)s)) GROUP BY q.slug",
    "left_out": "SELECT q.slug, COALESCE(sum(d.left_out), 0), count(d.id) FROM review_queue q LEFT JOIN review_queueday d"
                " ON d.queue_id = q.id AND d.day >= (%(start)s AT TIME ZONE 'UTC')::date"
                " AND d.day <= (%(end)s AT TIME ZONE 'UTC')::date WHERE q.project_id = %(project)s"
                " AND (%(queues)s::text[] IS NULL OR q.slug = ANY(%(queues)s)) GROUP BY q.slug",
}


class ReviewSource:
    name = "review"

    def validate(self, rule: Any) -> None:
        from alerts.registry import RuleInvalid

        if rule.measure not in MEASURES:
            raise RuleInvalid("measure", f"the review source measures {', '.join(MEASURES)}")
        if rule.score or rule.flag:
            raise RuleInvalid("score", "review measures take no score or flag")
        if list(rule.group_by) not in ([], ["queue"]):
            raise RuleInvalid("group_by", "nothing, or queue")
        filters = rule.filters or {}
        if set(filters) - {"queue"} or not all(isinstance(v, str) for v in filters.get("queue", [])):
            raise RuleInvalid("filters", '{"queue": [queue slugs]} or nothing')
        if rule.measure in STATES and rule.condition != "threshold":
            raise RuleInvalid("condition", f"{rule.measure} is a state (no history): use the threshold condition")

    def read(self, rule: Any, window: Any) -> Any:
        from alerts.registry import GroupValue, Reading

        queues = (rule.filters or {}).get("queue") or None
        with connection.cursor() as cur:
            cur.execute(_SQL[rule.measure], {"project": rule.project_id, "queues": queues, "start": window.start,
                                             "end": window.end, "now": timezone.now()})
            rows = cur.fetchall()
        reading = Reading()
        if rule.group_by:
            for slug, value, count in rows:
                reading.groups[(slug,)] = GroupValue(value=float(value), count=int(count))
        elif rows:
            values = [float(v) for _, v, _ in rows]
            total = max(values) if rule.measure == "oldest_pending_seconds" else sum(values)
            reading.groups[()] = GroupValue(value=total, count=sum(int(c) for *_, c in rows))
        return reading
