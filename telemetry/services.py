"""Worker-side writes: claim newly ingested calls, derive traces, spread trace-level attributes
over each trace's calls, link early feedback and scores.

Every step is idempotent and safe with several workers: calls are claimed with
FOR UPDATE SKIP LOCKED, traces are recomputed from the calls (not incremented), and
attributes and links are set only where still missing.
"""
from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.core.cache import cache
from django.db import OperationalError, connection, transaction
from django.utils import timezone

from rollups.cubes import MODEL_CALL_KINDS
from rollups.fold import FOLD_ENTITIES

log = logging.getLogger(__name__)

DEBOUNCE_SECONDS = 2
_DEBOUNCE_KEY = "obs:processing-requested:{}"

# The queue pattern: rows other workers hold are skipped, and the delete commits (or rolls back)
# with everything the batch wrote.
# Ids first, in a MATERIALIZED CTE, then the delete of exactly those: with `DELETE ... WHERE call_id
# IN (SELECT ... LIMIT ... FOR UPDATE SKIP LOCKED)` and statistics taken while the queue was empty
# (autoanalyze saw 0 rows on 1 page), the planner chose a nested-loop semi join that re-ran the
# locked LIMIT subquery for every queue row: 13 minutes at 100% CPU on a 50k burst. A MATERIALIZED
# CTE is computed once whatever the statistics say, and the delete looks each id up by primary key.
# Also returns each call's trace id (NULL for a queue row whose call the retention purge removed).
_CLAIM_SQL = """
WITH picked AS MATERIALIZED (
    SELECT call_id FROM telemetry_pendingcall WHERE project_id = %s
    ORDER BY project_id, call_id LIMIT %s FOR UPDATE SKIP LOCKED
), claimed AS (
    DELETE FROM telemetry_pendingcall q USING picked WHERE q.call_id = picked.call_id
    RETURNING q.call_id
)
SELECT claimed.call_id, c.trace_id FROM claimed LEFT JOIN telemetry_call c ON c.id = claimed.call_id
"""
# Traces are recomputed from their calls, so re-running or racing workers converge on the same row.
# The upsert also row-locks each trace of the batch until commit (in trace id order, so two workers
# never wait on each other crosswise): _ATTRIBUTES_SQL relies on it, see there.
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
              AND u.user_id <> '' ORDER BY u.parent_id <> '', start_time, id LIMIT 1) AS user_id,
           (SELECT session_id FROM telemetry_call s WHERE s.project_id = agg.project_id
              AND s.trace_id = agg.trace_id AND s.session_id <> '' ORDER BY s.parent_id <> '', start_time, id
              LIMIT 1) AS session_id
    FROM telemetry_call r WHERE r.project_id = agg.project_id AND r.trace_id = agg.trace_id
    ORDER BY (r.parent_id = '') DESC, r.start_time LIMIT 1
) root ON true
ORDER BY agg.trace_id
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

# Instrumentations often set the trace-level attributes (user, session, environment, release, tags)
# on the root span only, so the model calls under it would count for no user. Each call of the
# batch's traces that lacks one takes it from the root span (parent_id = ''), else from the
# earliest call carrying it. min() over [key, value] pairs, the key "not root, start, id" as text in
# byte order, takes that value in one pass: ordered aggregates sorted each trace's calls once per
# attribute, and fetching the value by the chosen call's id made the planner loop over the batch for
# each trace. Traces whose calls all carry, or all lack, each attribute stop at the first aggregate.
#
# The batch's own calls (claimed, not folded yet) get every attribute. Calls of the same traces
# that earlier batches folded (the root span came in a later export) get user, session, release and
# tags but keep their environment, a dimension of the rollup parts they were folded into, which
# appending cannot move. Only empty values are filled, so each folded call is returned once, with
# what it gained, for the caller to add to its user's and session's figures. Calls still queued
# are left to the batch that will claim them.
#
# Two batches of one trace at once: _TRACE_SQL, earlier in the same transaction, holds the row of
# each trace of the batch until commit, so the second batch waits there and then (READ COMMITTED:
# a new snapshot per statement) sees the first one's calls folded and filled. Calls the first one
# saw still queued were either unclaimed or claimed by a batch waiting on the trace row, which
# fills them from what the first one committed. So a call gains a value before its fold or is
# corrected after it by exactly one batch. (An advisory lock per trace would do the same but takes
# a lock-table slot per trace: up to 5,000 per batch, past the server's default capacity.)
_ATTRIBUTES_SQL = """
WITH calls AS MATERIALIZED (
    SELECT id, trace_id, parent_id, start_time, user_id, session_id, environment, release, tags
    FROM telemetry_call WHERE project_id = %(project)s AND trace_id = ANY(%(traces)s)
), incomplete AS (
    SELECT trace_id FROM calls GROUP BY trace_id
    HAVING bool_or(user_id = '') AND bool_or(user_id <> '') OR bool_or(session_id = '') AND bool_or(session_id <> '')
        OR bool_or(environment = '') AND bool_or(environment <> '') OR bool_or(release = '') AND bool_or(release <> '')
        OR bool_or(tags = '{}') AND bool_or(tags <> '{}')
), trace_values AS (
    SELECT trace_id, (min(ARRAY[rank, user_id]) FILTER (WHERE user_id <> ''))[2] AS user_id,
           (min(ARRAY[rank, session_id]) FILTER (WHERE session_id <> ''))[2] AS session_id,
           (min(ARRAY[rank, environment]) FILTER (WHERE environment <> ''))[2] AS environment,
           (min(ARRAY[rank, release]) FILTER (WHERE release <> ''))[2] AS release,
           (min(ARRAY[rank, tags::text]) FILTER (WHERE tags <> '{}'))[2]::varchar[] AS tags
    FROM (SELECT c.*, (parent_id <> '')::int || to_char(start_time AT TIME ZONE 'UTC', 'YYYYMMDDHH24MISSUS')
                      || lpad(id::text, 19, '0') COLLATE "C" AS rank
          FROM calls c JOIN incomplete USING (trace_id)) ranked
    GROUP BY trace_id
), fills AS (
    SELECT c.id, b.id IS NOT NULL AS claimed, CASE WHEN c.user_id = '' THEN v.user_id END AS user_id,
           CASE WHEN c.session_id = '' THEN v.session_id END AS session_id,
           CASE WHEN c.environment = '' AND b.id IS NOT NULL THEN v.environment END AS environment,
           CASE WHEN c.release = '' THEN v.release END AS release, CASE WHEN c.tags = '{}' THEN v.tags END AS tags
    FROM calls c JOIN trace_values v USING (trace_id) LEFT JOIN unnest(%(ids)s::int8[]) AS b(id) ON b.id = c.id
), todo AS (
    -- OFFSET 0 keeps the queue check a probe of its primary key per folded call: as a NOT EXISTS
    -- the planner may hash the whole queue, the largest table here during a backlog.
    SELECT f.* FROM fills f
    LEFT JOIN LATERAL (SELECT true AS found FROM telemetry_pendingcall p
                       WHERE NOT f.claimed AND p.call_id = f.id OFFSET 0) queued ON true
    WHERE num_nonnulls(f.user_id, f.session_id, f.environment, f.release, f.tags) > 0 AND queued.found IS NULL
), filled AS (
    -- The trace condition bounds the plan to the batch's traces whatever the estimates of the above.
    UPDATE telemetry_call c SET user_id = COALESCE(f.user_id, c.user_id),
           session_id = COALESCE(f.session_id, c.session_id), environment = COALESCE(f.environment, c.environment),
           release = COALESCE(f.release, c.release), tags = COALESCE(f.tags, c.tags)
    FROM todo f
    WHERE c.id = f.id AND c.project_id = %(project)s AND c.trace_id = ANY(%(traces)s)
    RETURNING c.id, f.claimed, f.user_id IS NOT NULL AS user_filled, f.session_id IS NOT NULL AS session_filled
)
SELECT id, user_filled, session_filled FROM filled WHERE NOT claimed AND (user_filled OR session_filled)
"""
# A corrected call was folded with an empty user or session, or both: it now adds to the figures of
# the one it gained only. The same upsert as the fold's, with the other key blanked.
_BOTH_ENTITIES = "(VALUES ('user', t.user_id), ('session', t.session_id))"
_FOLD_FILLED = FOLD_ENTITIES.replace(_BOTH_ENTITIES, (
    "(VALUES ('user', CASE WHEN t.id = ANY(%(users)s::int8[]) THEN t.user_id ELSE '' END),"
    " ('session', CASE WHEN t.id = ANY(%(sessions)s::int8[]) THEN t.session_id ELSE '' END))"))
if _FOLD_FILLED == FOLD_ENTITIES:  # not an assert: under -O it would count corrected sessions twice
    raise RuntimeError("rollups.fold.FOLD_ENTITIES no longer lists its entities as expected: update _FOLD_FILLED")
_DEADLOCK = "40P01"
_DEADLOCK_RETRIES = 3
_CANCELED = "57014"  # query_canceled: what a statement_timeout raises
_MIN_BATCH = 50  # a batch cancelled at this size fails the task (the sweeper enqueues it again)


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
    Returns whether a task was sent. Raises if the broker is unreachable and, for a cool-down after
    that, observatory.breaker.CircuitOpen without trying (callers decide; the sweeper recovers)."""
    from observatory import breaker
    from telemetry.tasks import process_project

    def request() -> bool:
        try:
            first = cache.add(_DEBOUNCE_KEY.format(project_id), 1, timeout=DEBOUNCE_SECONDS)
        except Exception:  # noqa: BLE001 - no cache: do not debounce
            first = True
        if not first:
            return False
        # retry=False: one short attempt (OBSERVATORY_REDIS_TIMEOUT_MS), whatever task_publish_retry says.
        process_project.apply_async((project_id,), countdown=0.2, retry=False)
        return True

    return breaker.enqueue.call(request)


def project_process(*, project_id: int, max_batches: int = 100) -> int:
    """Process pending calls of a project in bounded batches. Returns how many calls were processed."""
    try:
        # Cleared first: events committed after this point ask for (and get) a new task.
        cache.delete(_DEBOUNCE_KEY.format(project_id))
    except Exception:  # noqa: BLE001
        pass
    # A budget in calls rather than batches: after a batch was cut down (_process_batch_retrying) the
    # run still works through as many calls, and backlog_remains still sees a full run.
    budget, size, processed = max_batches * settings.PROCESS_BATCH_SIZE, settings.PROCESS_BATCH_SIZE, 0
    while processed < budget:
        done, size = _process_batch_retrying(project_id, size)
        processed += done
        if done < size:
            break
    orphans_link(project_id=project_id)
    if processed:
        for hook in _AFTER_RUN:
            hook(project_id)
    for hook in _AFTER_ANY_RUN:
        hook(project_id)
    return processed


def _process_batch_retrying(project_id: int, size: int) -> tuple[int, int]:
    """One batch of at most `size` calls: (calls processed, the size it took). A rolled-back
    attempt also undid its claim, so the next one simply claims again.

    Deadlock: a batch that corrects folded calls upserts user and session rows in two statements
    (its corrections, then its fold), so two workers can take two of those rows in opposite orders
    and PostgreSQL rolls one back: claim again, the same size.

    Cancelled (a worker's statement_timeout, observatory/celery.py): a statement of the batch ran
    past the worker's limit (a burst after a long outage, a plan gone bad). Claim half as many,
    down to _MIN_BATCH, rather than fail the task or run for minutes; the caller keeps the smaller
    size for the rest of its run."""
    deadlocks = 0
    floor = min(_MIN_BATCH, settings.PROCESS_BATCH_SIZE)
    while True:
        try:
            return _process_batch(project_id, size=size), size
        except OperationalError as error:
            state = getattr(error.__cause__, "sqlstate", None)
            if state == _DEADLOCK and deadlocks < _DEADLOCK_RETRIES - 1:
                deadlocks += 1
                log.info("project %s: batch rolled back by a deadlock, claiming again", project_id)
            elif state == _CANCELED and size > floor:
                size = max(size // 2, floor)
                log.warning("project %s: batch cancelled by the statement timeout, claiming %s calls", project_id,
                            size)
            else:
                raise


def _process_batch(project_id: int, *, size: int) -> int:
    with transaction.atomic(), connection.cursor() as cur:
        cur.execute(_CLAIM_SQL, [project_id, size])
        claimed = cur.fetchall()
        if not claimed:
            return 0
        ids = sorted(row[0] for row in claimed)
        traces = sorted({row[1] for row in claimed if row[1]})
        if traces:
            cur.execute(_TRACE_SQL, {"project": project_id, "traces": traces})
            trace_attributes_spread(cur, project_id=project_id, ids=ids, traces=traces)
        for processor in _PROCESSORS:
            processor(cur, project_id, ids)
        return len(ids)


def trace_attributes_spread(cur: Any, *, project_id: int, ids: list[int], traces: list[str]) -> int:
    """In the claim transaction, after _TRACE_SQL and before the fold: give the claimed calls `ids`
    and the folded calls of `traces` the trace-level attributes they lack (see _ATTRIBUTES_SQL), and
    add the folded ones that gained a user or session to that user's or session's figures. Returns
    how many folded calls were corrected."""
    cur.execute(_ATTRIBUTES_SQL, {"project": project_id, "ids": ids, "traces": traces})
    corrected = cur.fetchall()
    if corrected:
        cur.execute(_FOLD_FILLED, {
            "project": project_id, "ids": [row[0] for row in corrected], "model_kinds": list(MODEL_CALL_KINDS),
            "users": [row[0] for row in corrected if row[1]], "sessions": [row[0] for row in corrected if row[2]]})
    return len(corrected)


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
# Ids first, as in _CLAIM_SQL (see there): a join to the locked LIMIT subquery could be planned as a
# nested loop re-running it per payload when the statistics predate a burst.
_INDEX_SQL = """
WITH todo AS MATERIALIZED (
    SELECT call_id FROM telemetry_callpayload WHERE search IS NULL ORDER BY call_id LIMIT %s FOR UPDATE SKIP LOCKED)
UPDATE telemetry_callpayload p SET search = coalesce(obs_payload_search(p.input, p.output), ''::tsvector)
FROM todo WHERE p.call_id = todo.call_id
"""


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
                    cur.execute(_INDEX_SQL, [batch])
                    indexed = cur.rowcount
                done += indexed
                if indexed < batch:
                    break
        finally:
            cur.execute("SELECT pg_advisory_unlock(%s)", [SEARCH_LOCK])
    return done
