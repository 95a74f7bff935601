"""The calls behind an alert incident. A routing rule of kind "incident" names an alert rule and how
much to take (N calls, or X%); when one of that rule's incidents opens and the rule lists the
alerts action "sample_into_queue" (registered from ReviewConfig.ready(); alerts never imports
review), the breaching group's calls in the incident window go into the rule's queue.

The window is the one the alert read when it fired: [opened_at - window, opened_at). The group is
the incident's group values over the alert rule's own filters (rollups dimensions are call columns;
the users source's `user` is the call's user_id). X% uses the same hash of the call id as sample
rules; N calls are drawn with the incident id as the seed, so running the action again picks the
same calls, and once-only (unique queue and call) does the rest. The rule's own filters narrow
further, and the queue's daily cap applies as for any routed call.
"""
from __future__ import annotations

import logging
import random
from datetime import timedelta
from typing import Any

from django.db import DatabaseError, connection, transaction

from quality.batch import sampled

log = logging.getLogger(__name__)

# How many of the window's calls (newest first) an incident looks at: a 30-day window over a busy
# group must not make the alert's transaction scan millions of rows.
MAX_SCAN = 50_000
# Call columns an incident's group or its rule's filters may name (rollups.cubes.DIMENSIONS, and
# the users source's per-user groups). Column names come from this map only, never from input.
COLUMNS = {"kind": "kind", "provider": "provider", "model": "model", "prompt_name": "prompt_name",
           "prompt_version": "prompt_version", "feature": "feature", "team": "team", "environment": "environment",
           "status": "status", "user": "user_id"}
SOURCES = ("rollups", "users")  # alert sources whose groups are calls
STATEMENT_TIMEOUT_MS = 10_000

_CALLS_SQL = """
WITH picked AS MATERIALIZED (
    SELECT id FROM telemetry_call
    WHERE project_id = %(project)s AND start_time >= %(start)s AND start_time < %(end)s {where}
    ORDER BY start_time DESC, id DESC LIMIT %(limit)s
)
SELECT id FROM picked ORDER BY id
"""
_RULES_SQL = """
SELECT r.id, r.sample_rate, r.sample_count FROM review_routingrule r JOIN review_queue q ON q.id = r.queue_id
WHERE r.kind = 'incident' AND r.alert_rule_id = %(alert_rule)s AND r.enabled AND q.active
  AND q.project_id = %(project)s
ORDER BY r.id
"""


def incident_filters(rule_filters: dict[str, list[str]], group: dict[str, str]) -> dict[str, list[str]]:
    """The alert rule's filters narrowed to the incident's group values."""
    filters = {dim: list(values) for dim, values in (rule_filters or {}).items()}
    for dim, value in (group or {}).items():
        filters[dim] = [value]
    return filters


def window_calls(cur: Any, *, project_id: int, start: Any, end: Any, filters: dict[str, list[str]]) -> list[int]:
    """Ids of the project's calls in [start, end) matching the filters (at most MAX_SCAN, newest)."""
    where = []
    params: dict[str, Any] = {"project": project_id, "start": start, "end": end, "limit": MAX_SCAN}
    for n, (dim, values) in enumerate(sorted(filters.items())):
        column = COLUMNS.get(dim)
        if column is None:
            raise ValueError(f"calls are not kept by {dim!r}")
        where.append(f"AND {column} = ANY(%(f{n})s)")
        params[f"f{n}"] = list(values)
    cur.execute(_CALLS_SQL.format(where=" ".join(where)), params)
    return [row[0] for row in cur.fetchall()]


def choose(call_ids: list[int], *, rate: float | None, count: int | None, seed: int) -> list[int]:
    """X% of the calls by the call-id hash, or N of them drawn with a fixed seed (the same each run)."""
    if rate:
        return [c for c in call_ids if sampled(c, rate)]
    if count:
        return sorted(random.Random(seed).sample(sorted(call_ids), min(count, len(call_ids))))
    return []


def incident_route(*, incident: Any, alert_rule: Any, window_seconds: int | None = None,
                   only: list[int] | None = None) -> dict[int, int]:
    """Route the calls behind `incident` into the queues of the incident rules naming `alert_rule`
    (or only the rules `only`), in the caller's transaction. Returns {queue id: items added}."""
    from review.routing import calls_route

    if alert_rule.source not in SOURCES:
        return {}
    end = incident.opened_at
    start = end - timedelta(seconds=window_seconds or alert_rule.window_seconds)
    with connection.cursor() as cur:
        cur.execute(_RULES_SQL, {"alert_rule": alert_rule.id, "project": alert_rule.project_id})
        rules = [r for r in cur.fetchall() if only is None or r[0] in only]
        if not rules:
            return {}
        calls = window_calls(cur, project_id=alert_rule.project_id, start=start, end=end,
                             filters=incident_filters(alert_rule.filters, incident.group))
        chosen = {rule_id: choose(calls, rate=rate, count=count, seed=incident.id) for rule_id, rate, count in rules}
        ids = sorted({c for picked in chosen.values() for c in picked})
        reason = {"incident": incident.id, "alert_rule": alert_rule.id, "alert": alert_rule.name[:200],
                  "group": incident.group, "window": [start.isoformat(), end.isoformat()]}
        return calls_route(cur, alert_rule.project_id, ids, rule_ids=[r[0] for r in rules], chosen=chosen,
                           incident=reason)


def sample_action(transition: Any) -> None:
    """alerts action "sample_into_queue": when an incident opens, sample its calls into the queues
    of the incident rules naming the alert rule. Reminders, escalations and resolutions do
    nothing (the incident was sampled when it opened). Runs in the alert's transaction, inside a
    savepoint with its own statement timeout: a failure here is logged and never undoes the
    alert's state change or its notifications."""
    incident = transition.incident
    if transition.kind != "trigger" or incident is None or transition.event.at != incident.opened_at:
        return
    try:
        with transaction.atomic(), connection.cursor() as cur:
            cur.execute("SELECT current_setting('statement_timeout')")
            before = cur.fetchone()[0]
            cur.execute("SELECT set_config('statement_timeout', %s, true)", [str(STATEMENT_TIMEOUT_MS)])
            added = incident_route(incident=incident, alert_rule=transition.rule,
                                   window_seconds=transition.event.window_seconds)
            cur.execute("SELECT set_config('statement_timeout', %s, true)", [before])
        if added:
            log.info("review: incident %s sampled %s calls into queues %s", incident.id, sum(added.values()),
                     sorted(added))
    except (DatabaseError, ValueError):
        log.warning("review: could not sample the calls of incident %s", incident.id, exc_info=True)


MAX_BACKFILL_INCIDENTS = 100


def incidents_backfill(backfill: Any) -> bool:
    """A backfill of an incident rule (review.routing.backfill_step, in its transaction): the
    calls behind the incidents its alert rule opened in the backfill's range, newest first, at most
    MAX_BACKFILL_INCIDENTS; done in one step. Returns False (nothing more)."""
    from django.apps import apps
    from django.utils import timezone

    rule = backfill.rule
    if apps.is_installed("alerts") and rule.alert_rule_id is not None:
        from alerts.models import Incident, Rule

        alert_rule = Rule.objects.filter(pk=rule.alert_rule_id, project_id=rule.queue.project_id).first()
        incidents = list(Incident.objects.filter(rule_id=rule.alert_rule_id, opened_at__gte=backfill.start,
                                                 opened_at__lt=backfill.end)
                         .order_by("-opened_at")[:MAX_BACKFILL_INCIDENTS]) if alert_rule else []
        for incident in incidents:
            added = incident_route(incident=incident, alert_rule=alert_rule, only=[rule.id])
            backfill.routed += sum(added.values())
        backfill.scanned += len(incidents)
    backfill.finished_at = timezone.now()
    backfill.save()
    return False
