"""Worker-side writes: claim newly ingested calls, derive traces, link early feedback and scores.

Every step is idempotent and safe with several workers: calls are claimed with
FOR UPDATE SKIP LOCKED, traces are recomputed from the calls (not incremented), and
links are set only where still missing.
"""
from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.core.cache import cache
from django.db import connection, transaction
from django.utils import timezone

log = logging.getLogger(__name__)

DEBOUNCE_SECONDS = 2
_DEBOUNCE_KEY = "obs:processing-requested:{}"

# The queue pattern: rows other workers hold are skipped, and the delete commits (or rolls back)
# with everything the batch wrote.
# Also returns each call's trace id (NULL for a queue row whose call the retention purge removed).
_CLAIM_SQL = """
WITH claimed AS (
    DELETE FROM telemetry_pendingcall WHERE call_id IN (
        SELECT call_id FROM telemetry_pendingcall WHERE project_id = %s
        ORDER BY project_id, call_id LIMIT %s FOR UPDATE SKIP LOCKED)
    RETURNING call_id
)
SELECT claimed.call_id, c.trace_id FROM claimed LEFT JOIN telemetry_call c ON c.id = claimed.call_id
"""
# Traces are recomputed from their calls, so re-running or racing workers converge on the same row.
_TRACE_SQL = """
INSERT INTO telemetry_trace (project_id, trace_id, name, user_id, session_id, tags, start_time, end_time,
                             call_count, updated_at)
SELECT agg.project_id, agg.trace_id, root.name, COALESCE(root.user_id, ''), COALESCE(root.session_id, ''),
       root.tags, agg.start_time, agg.end_time, agg.call_count, now()
FROM (
    SELECT project_id, trace_id, min(start_time) AS start_time, max(COALESCE(end_time, start_time)) AS end_time,
           count(*) AS call_count
    FROM telemetry_call WHERE project_id = %(project)s AND trace_id = ANY(%(traces)s)
    GROUP BY project_id, trace_id
) agg
JOIN LATERAL (
    SELECT name, tags,
           (SELECT user_id FROM telemetry_call u WHERE u.project_id = agg.project_id AND u.trace_id = agg.trace_id
              AND u.user_id <> '' ORDER BY start_time LIMIT 1) AS user_id,
           (SELECT session_id FROM telemetry_call s WHERE s.project_id = agg.project_id
              AND s.trace_id = agg.trace_id AND s.session_id <> '' ORDER BY start_time LIMIT 1) AS session_id
    FROM telemetry_call r WHERE r.project_id = agg.project_id AND r.trace_id = agg.trace_id
    ORDER BY (r.parent_id = '') DESC, r.start_time LIMIT 1
) root ON true
ON CONFLICT (project_id, trace_id) DO UPDATE SET
    name = EXCLUDED.name, user_id = EXCLUDED.user_id, session_id = EXCLUDED.session_id, tags = EXCLUDED.tags,
    start_time = EXCLUDED.start_time, end_time = EXCLUDED.end_time, call_count = EXCLUDED.call_count,
    updated_at = now()
"""
_LINK_SQL = """
UPDATE {table} t SET call_id = c.id FROM telemetry_call c
WHERE t.project_id = %s AND t.call_id IS NULL AND c.project_id = t.project_id
  AND c.external_id = t.call_external_id
"""


# Other apps (rollups, scoring) fold each claimed batch inside the claiming transaction, so a
# batch is processed by every processor exactly once or, if anything fails, not at all.
Processor = Callable[[Any, int, list[int]], None]
_PROCESSORS: list[Processor] = []
# Run after a processing run, outside its transactions (rollups merge the parts the run appended).
_AFTER_RUN: list[Callable[[int], Any]] = []
# Run after every processing run, even one that found no new call (feedback and scores can arrive alone).
_AFTER_ANY_RUN: list[Callable[[int], Any]] = []


def register_processor(processor: Processor) -> None:
    if processor not in _PROCESSORS:
        _PROCESSORS.append(processor)


def register_after_run(hook: Callable[[int], Any], *, always: bool = False) -> None:
    """`always`: also after a run that processed no call (the hook checks its own queue)."""
    hooks = _AFTER_ANY_RUN if always else _AFTER_RUN
    if hook not in hooks:
        hooks.append(hook)


def processing_request(*, project_id: int) -> bool:
    """Ask a worker to process a project's new events, at most once per DEBOUNCE_SECONDS.
    Returns whether a task was sent. Raises if the broker is unreachable (callers decide)."""
    from telemetry.tasks import process_project

    try:
        first = cache.add(_DEBOUNCE_KEY.format(project_id), 1, timeout=DEBOUNCE_SECONDS)
    except Exception:  # noqa: BLE001 - no cache: do not debounce
        first = True
    if not first:
        return False
    process_project.apply_async((project_id,), countdown=0.2)
    return True


def project_process(*, project_id: int, max_batches: int = 100) -> int:
    """Process pending calls of a project in bounded batches. Returns how many calls were processed."""
    try:
        # Cleared first: events committed after this point ask for (and get) a new task.
        cache.delete(_DEBOUNCE_KEY.format(project_id))
    except Exception:  # noqa: BLE001
        pass
    processed = 0
    for _ in range(max_batches):
        done = _process_batch(project_id)
        processed += done
        if done < settings.PROCESS_BATCH_SIZE:
            break
    orphans_link(project_id=project_id)
    if processed:
        for hook in _AFTER_RUN:
            hook(project_id)
    for hook in _AFTER_ANY_RUN:
        hook(project_id)
    return processed


def _process_batch(project_id: int) -> int:
    with transaction.atomic(), connection.cursor() as cur:
        cur.execute(_CLAIM_SQL, [project_id, settings.PROCESS_BATCH_SIZE])
        claimed = cur.fetchall()
        if not claimed:
            return 0
        ids = sorted(row[0] for row in claimed)
        traces = sorted({row[1] for row in claimed if row[1]})
        if traces:
            cur.execute(_TRACE_SQL, {"project": project_id, "traces": traces})
        for processor in _PROCESSORS:
            processor(cur, project_id, ids)
        return len(ids)


def backlog_remains(*, processed: int, max_batches: int) -> bool:
    return processed >= max_batches * settings.PROCESS_BATCH_SIZE


def orphans_link(*, project_id: int) -> int:
    """Attach feedback and scores that arrived before their call."""
    linked = 0
    with connection.cursor() as cur:
        for table in ("telemetry_feedback", "telemetry_score"):
            cur.execute(_LINK_SQL.format(table=table), [project_id])
            linked += cur.rowcount
    return linked


def sweep(*, min_age: timedelta = timedelta(seconds=5)) -> list[int]:
    """Find projects with work whose message was lost (broker down, worker killed) and enqueue it."""
    cutoff = timezone.now() - min_age
    with connection.cursor() as cur:
        cur.execute(
            """
            SELECT DISTINCT project_id FROM telemetry_pendingcall WHERE received_at < %s
            UNION
            SELECT DISTINCT f.project_id FROM telemetry_feedback f JOIN telemetry_call c
              ON c.project_id = f.project_id AND c.external_id = f.call_external_id WHERE f.call_id IS NULL
            UNION
            SELECT DISTINCT s.project_id FROM telemetry_score s JOIN telemetry_call c
              ON c.project_id = s.project_id AND c.external_id = s.call_external_id WHERE s.call_id IS NULL
            """,
            [cutoff],
        )
        projects = [row[0] for row in cur.fetchall()]
    from telemetry.tasks import process_project

    for project_id in projects:
        process_project.delay(project_id)
    return projects


def queue_lag() -> tuple[int, float]:
    """(unprocessed calls, age in seconds of the oldest one) for /metrics."""
    with connection.cursor() as cur:
        cur.execute("SELECT count(*), min(received_at) FROM telemetry_pendingcall")
        count, oldest = cur.fetchone()
    age = (timezone.now() - oldest).total_seconds() if oldest else 0.0
    return int(count), max(age, 0.0)


SEARCH_BATCH = 500
SEARCH_LOCK = 7403  # advisory lock id: one payload indexer at a time (7401/7402: rollups)


def payloads_index(*, batch: int = SEARCH_BATCH, max_batches: int = 200) -> int:
    """Fill the full-text vector of payloads that have none (CallPayload.search), a batch per
    transaction, oldest call first. Runs beside ingest instead of inside it (see the model). A
    second indexer finds the lock taken and returns 0 at once. Returns the payloads indexed."""
    done = 0
    with connection.cursor() as cur:
        cur.execute("SELECT pg_try_advisory_lock(%s)", [SEARCH_LOCK])
        if not cur.fetchone()[0]:
            return 0
        try:
            for _ in range(max_batches):
                with transaction.atomic():
                    cur.execute(
                        "UPDATE telemetry_callpayload p"
                        " SET search = coalesce(obs_payload_search(p.input, p.output), ''::tsvector)"
                        " FROM (SELECT call_id FROM telemetry_callpayload WHERE search IS NULL ORDER BY call_id"
                        "       LIMIT %s FOR UPDATE SKIP LOCKED) todo WHERE p.call_id = todo.call_id", [batch])
                    indexed = cur.rowcount
                done += indexed
                if indexed < batch:
                    break
        finally:
            cur.execute("SELECT pg_advisory_unlock(%s)", [SEARCH_LOCK])
    return done
