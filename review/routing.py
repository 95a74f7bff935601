"""Routing: which calls enter which queues, set-based per batch.

Runs in four places, with the same code:
- after evaluation (quality.batch.register_after_evaluation), in the evaluation's transaction, over
  the batch's evaluated calls: flags, scores, feedback already there, errors, samples;
- after each telemetry processing run, over feedback that arrived since (review_pendingfeedback,
  filled by a trigger on telemetry_feedback): the late thumbs-down, rating or comment;
- in a backfill (a new rule over the last N days), a batch of calls per transaction.
- when an alert incident opens, over the calls its incident rules chose (review.incidents).

A batch costs five statements whatever its size (rules; candidates; today's cap rows; the insert;
the counters), so routing adds well under 10% to an evaluation batch (milliseconds against the
evaluators' hundreds). Once only: review_item is unique on (queue, call) and every insert is
ON CONFLICT DO NOTHING, so a re-score, a second matching rule or late feedback never adds an item
twice. Samples use quality.batch.sampled (a hash of the call id), so re-scoring does not re-roll.
"""
from __future__ import annotations

import json
import logging
from collections import defaultdict
from datetime import datetime, timedelta
from typing import Any

from django.db import connection, transaction
from django.utils import timezone

from quality.batch import sampled
from quality.evaluators.base import SEVERITIES

log = logging.getLogger(__name__)

_RULES_SQL = """
SELECT r.id, r.queue_id, r.kind, r.sample_rate, q.daily_cap
FROM review_routingrule r JOIN review_queue q ON q.id = r.queue_id
WHERE q.project_id = %(project)s AND q.active AND r.enabled {only}
ORDER BY r.id
"""
# Incident rules route only the calls their incident chose (review.incidents), never a batch's.
_NOT_INCIDENT = "AND r.kind <> 'incident'"
_SEVERITY_ARRAY = "ARRAY[" + ", ".join(f"'{s}'" for s in SEVERITIES) + "]"
# Candidates: (queue, call, why) for every rule that matches, minus the pairs already in the queue.
# `matched` applies the filters every kind shares; each branch then joins what its kind reads
# through that table's per-call index (quality_flag (call, name), telemetry_score (call, name),
# telemetry_feedback (call) or, for feedback that came before its call, (project, call_external_id)).
_CANDIDATES_SQL = f"""
WITH batch AS MATERIALIZED (
    SELECT id, external_id, status, error_type, model, feature, prompt_version, environment
    FROM telemetry_call WHERE project_id = %(project)s AND id = ANY(%(ids)s)
), rules AS MATERIALIZED (
    SELECT * FROM review_routingrule WHERE id = ANY(%(rules)s)
), matched AS MATERIALIZED (
    SELECT r.id AS rule_id, r.queue_id, r.kind, b.id AS call_id, b.external_id
    FROM rules r JOIN batch b ON (cardinality(r.models_filter) = 0 OR b.model = ANY(r.models_filter))
        AND (cardinality(r.features) = 0 OR b.feature = ANY(r.features))
        AND (cardinality(r.prompt_versions) = 0 OR b.prompt_version = ANY(r.prompt_versions))
        AND (cardinality(r.environments) = 0 OR b.environment = ANY(r.environments))
        AND (r.kind <> 'error' OR b.status = 'error')
), feedback AS (
    SELECT m.rule_id, m.queue_id, m.call_id, fb.thumbs, fb.rating, fb.comment, r.feedback AS want, r.rating_max
    FROM matched m JOIN rules r ON r.id = m.rule_id JOIN telemetry_feedback fb ON fb.call_id = m.call_id
    WHERE m.kind = 'feedback'
    UNION ALL
    SELECT m.rule_id, m.queue_id, m.call_id, fb.thumbs, fb.rating, fb.comment, r.feedback, r.rating_max
    FROM matched m JOIN rules r ON r.id = m.rule_id JOIN telemetry_feedback fb
      ON fb.project_id = %(project)s AND fb.call_id IS NULL AND fb.call_external_id = m.external_id
    WHERE m.kind = 'feedback'
), hits AS (
    SELECT m.queue_id, m.call_id, jsonb_build_object('rule', m.rule_id, 'kind', 'flag',
           'flags', jsonb_agg(jsonb_build_object('name', f.name, 'severity', f.severity) ORDER BY f.name)) AS why
    FROM matched m JOIN rules r ON r.id = m.rule_id JOIN quality_flag f ON f.call_id = m.call_id
      AND (cardinality(r.flag_names) = 0 OR f.name = ANY(r.flag_names))
      AND array_position({_SEVERITY_ARRAY}, f.severity) >= array_position({_SEVERITY_ARRAY}, r.min_severity)
    WHERE m.kind = 'flag' GROUP BY m.queue_id, m.call_id, m.rule_id
    UNION ALL
    SELECT m.queue_id, m.call_id, jsonb_build_object('rule', m.rule_id, 'kind', 'score',
           'scores', jsonb_object_agg(s.source || ':' || s.name, s.value), 'direction', min(r.direction),
           'threshold', min(r.threshold))
    FROM matched m JOIN rules r ON r.id = m.rule_id JOIN telemetry_score s ON s.call_id = m.call_id
      AND s.name = r.score_name
      AND CASE WHEN r.direction = 'above' THEN s.value > r.threshold ELSE s.value < r.threshold END
    WHERE m.kind = 'score' GROUP BY m.queue_id, m.call_id, m.rule_id
    UNION ALL
    SELECT queue_id, call_id, jsonb_build_object('rule', rule_id, 'kind', 'feedback',
           'feedback', jsonb_agg(jsonb_build_object('thumbs', thumbs, 'rating', rating, 'comment', left(comment, 300))))
    FROM feedback
    WHERE CASE want WHEN 'thumbs_down' THEN thumbs = -1 WHEN 'rating' THEN rating <= rating_max
                    ELSE comment <> '' END
    GROUP BY queue_id, call_id, rule_id
    UNION ALL
    SELECT m.queue_id, m.call_id, jsonb_build_object('rule', m.rule_id, 'kind', 'error', 'error_type', b.error_type)
    FROM matched m JOIN batch b ON b.id = m.call_id WHERE m.kind = 'error'
    UNION ALL
    SELECT m.queue_id, m.call_id, CASE WHEN m.kind = 'incident'
           THEN jsonb_build_object('rule', m.rule_id, 'kind', 'incident') || %(incident)s::jsonb
           ELSE jsonb_build_object('rule', m.rule_id, 'kind', 'sample', 'rate', r.sample_rate) END
    FROM matched m JOIN rules r ON r.id = m.rule_id
    JOIN unnest(%(s_rules)s::int8[], %(s_calls)s::int8[]) AS s(rule_id, call_id)
      ON s.rule_id = m.rule_id AND s.call_id = m.call_id
    WHERE m.kind IN ('sample', 'incident')
)
SELECT h.queue_id, h.call_id, jsonb_agg(h.why ORDER BY h.why->>'rule')::text
FROM hits h
WHERE NOT EXISTS (SELECT 1 FROM review_item i WHERE i.queue_id = h.queue_id AND i.call_id = h.call_id)
GROUP BY h.queue_id, h.call_id
ORDER BY h.queue_id, h.call_id
"""
# Today's row per capped queue, row-locked until commit so two workers apply one cap in turn.
_DAY_LOCK_SQL = """
INSERT INTO review_queueday (queue_id, day, routed, left_out)
SELECT unnest(%(queues)s::int8[]), %(day)s, 0, 0
ON CONFLICT (queue_id, day) DO UPDATE SET routed = review_queueday.routed
RETURNING queue_id, routed
"""
_INSERT_SQL = """
INSERT INTO review_item (queue_id, call_id, reason, status, submissions, created_at)
SELECT q, c, jsonb_build_object('rules', w::jsonb), 'pending', 0, %(now)s
FROM unnest(%(queues)s::int8[], %(calls)s::int8[], %(whys)s::text[]) AS t(q, c, w)
ORDER BY q, c
ON CONFLICT (queue_id, call_id) DO NOTHING
RETURNING queue_id
"""
_DAY_COUNT_SQL = """
INSERT INTO review_queueday (queue_id, day, routed, left_out)
SELECT q, %(day)s, r, l FROM unnest(%(queues)s::int8[], %(routed)s::int4[], %(left)s::int4[]) AS t(q, r, l)
ON CONFLICT (queue_id, day) DO UPDATE SET routed = review_queueday.routed + EXCLUDED.routed,
    left_out = review_queueday.left_out + EXCLUDED.left_out
"""


def calls_route(cur: Any, project_id: int, call_ids: list[int], *, rule_ids: list[int] | None = None,
                now: datetime | None = None, chosen: dict[int, list[int]] | None = None,
                incident: dict[str, Any] | None = None) -> dict[int, int]:
    """Route `call_ids` of the project by its enabled rules (or only `rule_ids`), in the caller's
    transaction. Incident rules take part only when named in `rule_ids`, and then route the calls
    `chosen` for them ({rule id: call ids}), with `incident` added to the reason. Returns
    {queue id: items added}."""
    if not call_ids:
        return {}
    only = "AND r.id = ANY(%(only)s)" if rule_ids is not None else _NOT_INCIDENT
    cur.execute(_RULES_SQL.format(only=only), {"project": project_id, "only": rule_ids})
    rules = cur.fetchall()
    if not rules:
        return {}
    s_rules: list[int] = []
    s_calls: list[int] = []
    for rule_id, _, kind, rate, _ in rules:
        if kind == "sample" and rate:
            picked = [c for c in call_ids if sampled(c, rate)]
        elif kind == "incident":
            picked = (chosen or {}).get(rule_id, [])
        else:
            continue
        s_rules += [rule_id] * len(picked)
        s_calls += picked
    cur.execute(_CANDIDATES_SQL, {"project": project_id, "ids": call_ids, "rules": [r[0] for r in rules],
                                  "s_rules": s_rules, "s_calls": s_calls,
                                  "incident": json.dumps(incident or {})})
    candidates = cur.fetchall()
    if not candidates:
        return {}
    now = now or timezone.now()
    day = now.date()
    caps = {queue_id: cap for _, queue_id, _, _, cap in rules if cap is not None}
    by_queue: dict[int, list[tuple[int, str]]] = defaultdict(list)
    for queue_id, call_id, why in candidates:
        by_queue[queue_id].append((call_id, why))
    room: dict[int, int] = {}
    capped = sorted(q for q in by_queue if q in caps)
    if capped:
        cur.execute(_DAY_LOCK_SQL, {"queues": capped, "day": day})
        room = {queue_id: max(caps[queue_id] - routed, 0) for queue_id, routed in cur.fetchall()}
    queues: list[int] = []
    calls: list[int] = []
    whys: list[str] = []
    left: dict[int, int] = defaultdict(int)
    for queue_id, found in by_queue.items():
        keep = found if queue_id not in room else found[:room[queue_id]]
        left[queue_id] = len(found) - len(keep)
        for call_id, why in keep:
            queues.append(queue_id)
            calls.append(call_id)
            whys.append(why)
    added: dict[int, int] = defaultdict(int)
    if queues:
        cur.execute(_INSERT_SQL, {"queues": queues, "calls": calls, "whys": whys, "now": now})
        for (queue_id,) in cur.fetchall():
            added[queue_id] += 1
    touched = sorted(set(added) | {q for q, n in left.items() if n})
    if touched:
        cur.execute(_DAY_COUNT_SQL, {"queues": touched, "day": day, "routed": [added[q] for q in touched],
                                     "left": [left[q] for q in touched]})
    return dict(added)


def after_evaluation(cur: Any, project_id: int, call_ids: list[int]) -> None:
    """quality's after-evaluation hook: route the freshly evaluated calls."""
    calls_route(cur, project_id, call_ids)


# --- late feedback -----------------------------------------------------------------------------

FEEDBACK_BATCH = 500
# Ids first in a MATERIALIZED CTE, then the delete of exactly those (STYLE.md point 11).
_FEEDBACK_CLAIM_SQL = """
WITH picked AS MATERIALIZED (
    SELECT feedback_id FROM review_pendingfeedback WHERE project_id = %s
    ORDER BY project_id, feedback_id LIMIT %s FOR UPDATE SKIP LOCKED
), claimed AS (
    DELETE FROM review_pendingfeedback q USING picked WHERE q.feedback_id = picked.feedback_id
    RETURNING q.feedback_id
)
SELECT DISTINCT c.id FROM claimed JOIN telemetry_feedback f ON f.id = claimed.feedback_id
JOIN telemetry_call c ON c.project_id = f.project_id
    AND (c.id = f.call_id OR (f.call_id IS NULL AND c.external_id = f.call_external_id))
"""


def feedback_route(*, project_id: int, max_batches: int = 20) -> int:
    """Route the calls of feedback queued since the last run. Feedback whose call has not arrived
    is dropped from the queue: its call is routed when it is evaluated (the candidates join
    feedback by the client's call id too). Returns the items added."""
    added = 0
    for _ in range(max_batches):
        with transaction.atomic(), connection.cursor() as cur:
            cur.execute("SET LOCAL statement_timeout = '60s'")
            cur.execute(_FEEDBACK_CLAIM_SQL, [project_id, FEEDBACK_BATCH])
            rows = cur.fetchall()
            if rows:
                cur.execute("SELECT r.id FROM review_routingrule r JOIN review_queue q ON q.id = r.queue_id"
                            " WHERE q.project_id = %s AND r.kind = 'feedback' AND r.enabled AND q.active",
                            [project_id])
                feedback_rules = [row[0] for row in cur.fetchall()]
                if feedback_rules:
                    added += sum(calls_route(cur, project_id, sorted(r[0] for r in rows),
                                             rule_ids=feedback_rules).values())
        if len(rows) < FEEDBACK_BATCH:
            break
    return added


def feedback_after_run(project_id: int) -> None:
    """telemetry's after-run hook (every run). Fail-soft: the queue is committed, the next run retries."""
    try:
        feedback_route(project_id=project_id)
    except Exception:  # noqa: BLE001
        log.warning("could not route the late feedback of project %s", project_id, exc_info=True)


# --- backfill ----------------------------------------------------------------------------------

BACKFILL_BATCH = 1000
# The backfill row is the claim (FOR UPDATE: one worker advances a backfill at a time); the batch's
# call ids are picked once in a MATERIALIZED CTE, newest first from the cursor, through the
# (project, -start_time, -id) index.
_BACKFILL_PICK_SQL = """
WITH picked AS MATERIALIZED (
    SELECT id, start_time FROM telemetry_call
    WHERE project_id = %(project)s AND start_time >= %(start)s AND start_time < %(end)s
      AND (%(cursor_time)s::timestamptz IS NULL OR (start_time, id) < (%(cursor_time)s::timestamptz, %(cursor_id)s))
    ORDER BY start_time DESC, id DESC LIMIT %(limit)s
)
SELECT id, start_time FROM picked ORDER BY start_time DESC, id DESC
"""


def backfill_step(*, backfill_id: int, batch: int = BACKFILL_BATCH) -> bool:
    """Advance a backfill by one batch in one transaction. Returns whether more remains."""
    from review.models import Backfill

    with transaction.atomic(), connection.cursor() as cur:
        backfill = (Backfill.objects.select_for_update(skip_locked=True).select_related("rule__queue")
                    .filter(pk=backfill_id, finished_at__isnull=True).first())
        if backfill is None:
            return False  # finished, or another worker holds it
        project_id = backfill.rule.queue.project_id
        if backfill.rule.kind == "incident":
            from review.incidents import incidents_backfill

            return incidents_backfill(backfill)
        cur.execute(_BACKFILL_PICK_SQL, {"project": project_id, "start": backfill.start, "end": backfill.end,
                                         "cursor_time": backfill.cursor_time, "cursor_id": backfill.cursor_id,
                                         "limit": batch})
        rows = cur.fetchall()
        if rows:
            added = calls_route(cur, project_id, [r[0] for r in rows], rule_ids=[backfill.rule_id])
            backfill.routed += sum(added.values())
            backfill.scanned += len(rows)
            backfill.cursor_id, backfill.cursor_time = rows[-1]
        if len(rows) < batch:
            backfill.finished_at = timezone.now()
        backfill.save()
        return backfill.finished_at is None


def backfill_range(days: int, now: datetime | None = None) -> tuple[datetime, datetime]:
    now = now or timezone.now()
    return now - timedelta(days=days), now + timedelta(minutes=1)
