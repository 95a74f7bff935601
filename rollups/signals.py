"""Feedback and client scores ("signals") in the rollups, counted once however late, often or
concurrently they arrive, change or go.

End users' thumbs and ratings (telemetry_feedback) and the scores clients send through the API,
OTLP or the Langfuse endpoints (telemetry_score rows whose external id does not start with
"eval:"; evaluator scores are folded by quality/ as they are written) are rolled up like
evaluator scores: rows of rollups_rollup whose `score` names the signal, in the bucket and with the
dimensions of the signal's *call* (its start time), so a rating given a week later still lands in
its call's bucket. Rollup score names:

- `feedback:count` (value 1 per feedback), `feedback:thumbs` (1 up, 0 down: count = rated,
  sum = ups) and `feedback:rating` (1-5; its histogram holds the ratings). Feedback is also kept
  in the every-dimension cube (hour and day grains, like calls), so the thumbs-down rate follows
  any combination of filters; feedback is a small share of calls, so that cube stays small.
- `<source>:<name>` for a client score (`human:helpfulness`, `api:accuracy`): never merged with the
  evaluators' scores, which keep their plain names. Negative values count exactly in averages;
  the histogram reads them as 0, like evaluator scores.

How: triggers on both tables (migration 0010) queue every insert, relevant update and delete in
rollups_pendingsignal; a signal without a call is not queued until linking it sets its call. The
worker claims a batch of queue rows (ids first, FOR UPDATE SKIP LOCKED), then locks each signal's
ledger row in rollups_signalfold (inserting an empty one first if new, so two workers holding
queue rows of the same signal take turns), reads the signals as they are now with their calls,
and appends (ledger state x -1) + (current state x +1) as rollup parts, then writes the current
state to the ledger and deletes the queue rows it consumed, all in one transaction. A batch is
therefore folded exactly once or not at all, and reconciling an unchanged signal folds nothing.
Signals of calls still waiting to be processed stay queued: the processing may still fill a
dimension of the call (telemetry.services), and the signal must land where its call did.

The parts are grouped in SQL rather than numpy (rollups/fold.py): signals come in hundreds, not in
the thousands of calls a batch folds, and the statement stays next to the ledger it reconciles.

Runs after every processing run (rollups/apps.py), from rollups.tasks.fold_signals when a backlog
remains, and beat's rollups.tasks.compact queues that task for projects whose signals waited too
long (a lost message). rollups_rebuild folds the signals of the range it rebuilds again.
"""
from __future__ import annotations

import logging
import math
from collections import defaultdict
from datetime import datetime, timedelta, timezone
from typing import Any

import msgspec
import numpy as np
from django.conf import settings
from django.db import OperationalError, connection, transaction

from rollups.cubes import CUBES, DIMENSIONS
from rollups.fold import LOCK_NAMESPACE
from rollups.sketch import keys_of

log = logging.getLogger(__name__)

FEEDBACK_PREFIX = "feedback:"
FEEDBACK_COUNT, FEEDBACK_THUMBS, FEEDBACK_RATING = "feedback:count", "feedback:thumbs", "feedback:rating"
EVALUATOR_SCORE_PREFIX = "eval:"  # quality.services.SCORE_PREFIX: folded by quality/, not here
BATCH = 500
MAX_BATCHES = 20
_DEADLOCK = "40P01"
_ATTEMPTS = 3

Key = tuple[str, int]  # (kind: "f" feedback or "s" score, row id)
# What a signal is folded as: (project, call start, call dimension values, rollup score names, values).
State = tuple[int, datetime, tuple[str, ...], tuple[str, ...], tuple[float, ...]]


def score_rollup_name(source: str, name: str) -> str:
    """The rollup score name of a client score: its source, a colon, its name (`human:helpfulness`)."""
    return f"{source}:{name}"[:120]


_DIMS = ", ".join(DIMENSIONS)
_CALL_DIMS = ", ".join(f"COALESCE(c.{d}, '')" for d in DIMENSIONS)
_CLAIM = "SELECT id, kind, row_id FROM rollups_pendingsignal WHERE project_id = %s ORDER BY id LIMIT %s FOR UPDATE SKIP LOCKED"
_KEYS = "SELECT * FROM unnest(%(kinds)s::text[], %(ids)s::int8[]) AS k(kind, row_id)"
# Sorted, so that two workers take the rows they share in the same order.
_LEDGER_ADD = f"""
INSERT INTO rollups_signalfold (kind, row_id, project_id, dims, names, vals)
SELECT kind, row_id, %(project)s, '{{}}', '{{}}', '{{}}' FROM ({_KEYS}) k ORDER BY kind, row_id
ON CONFLICT (kind, row_id) DO NOTHING
"""
_LEDGER_LOCK = f"""
SELECT kind, row_id, project_id, start_time, dims, names, vals FROM rollups_signalfold
WHERE (kind, row_id) IN ({_KEYS}) ORDER BY kind, row_id FOR UPDATE
"""
_LEDGER_WRITE = """
UPDATE rollups_signalfold s SET project_id = u.project_id, start_time = u.start_time, dims = u.dims,
    names = u.names, vals = u.vals
FROM jsonb_to_recordset(%s::jsonb) AS u(kind text, row_id int8, project_id int8, start_time timestamptz,
                                        dims text[], names text[], vals float8[])
WHERE s.kind = u.kind AND s.row_id = u.row_id
"""
_LEDGER_DROP = f"DELETE FROM rollups_signalfold WHERE (kind, row_id) IN ({_KEYS})"
# The signals as they are now, with their calls; `pending`: the call is not processed yet.
_FEEDBACK = f"""
SELECT f.id, f.project_id, c.start_time, {_CALL_DIMS}, p.call_id IS NOT NULL, f.thumbs, f.rating
FROM telemetry_feedback f JOIN telemetry_call c ON c.id = f.call_id AND c.project_id = f.project_id
LEFT JOIN telemetry_pendingcall p ON p.call_id = c.id
WHERE f.id = ANY(%(ids)s)
"""
_SCORES = f"""
SELECT s.id, s.project_id, c.start_time, {_CALL_DIMS}, p.call_id IS NOT NULL, s.source, s.name, s.value
FROM telemetry_score s JOIN telemetry_call c ON c.id = s.call_id AND c.project_id = s.project_id
LEFT JOIN telemetry_pendingcall p ON p.call_id = c.id
WHERE s.id = ANY(%(ids)s) AND s.external_id NOT LIKE %(evaluator)s
"""
_CUBE_ROWS = ", ".join(f"('{cube}', {', '.join('true' if d in dims else 'false' for d in DIMENSIONS)})"
                       for cube, dims in CUBES.items())
_N = 4 + len(DIMENSIONS)  # project, grain, cube, bucket, dimensions: the columns before `score`
# One part per (project, grain, cube, bucket, dimension values, score name): weights summed per
# sketch key first, then the keys packed in order as Rollup stores them (rollups/models.py).
_PARTS = f"""
WITH e AS (
    SELECT * FROM unnest(%(project)s::int8[], %(start)s::timestamptz[],
                         {", ".join(f"%(d_{d})s::text[]" for d in DIMENSIONS)},
                         %(score)s::text[], %(value)s::float8[], %(key)s::int4[], %(weight)s::int8[])
        AS e(project_id, start_time, {_DIMS}, score, value, key, weight)
), binned AS (
    SELECT e.project_id, g.grain, c.cube, date_trunc(g.unit, e.start_time, 'UTC') AS bucket,
           {", ".join(f"CASE WHEN c.{d} THEN e.{d} ELSE '' END AS {d}" for d in DIMENSIONS)},
           e.score, e.key, sum(e.weight)::int8 AS n, sum(e.value * e.weight) AS total,
           sum(e.value * e.value * e.weight) AS squares
    FROM e CROSS JOIN (VALUES ('m', 'minute'), ('h', 'hour'), ('d', 'day')) AS g(grain, unit)
    CROSS JOIN (VALUES {_CUBE_ROWS}) AS c(cube, {_DIMS})
    WHERE (g.grain <> 'm' OR e.start_time >= %(horizon)s)
      AND (c.cube <> 'all' OR (g.grain <> 'm' AND starts_with(e.score, %(every_cube)s)))
    GROUP BY {", ".join(str(i) for i in range(1, _N + 3))}
)
INSERT INTO rollups_rollup (project_id, grain, cube, bucket, {_DIMS}, score, score_count, score_sum, score_sumsq,
    score_keys, score_counts, calls, errors, input_tokens, output_tokens, cached_input_tokens, reasoning_tokens, cost_usd, unpriced,
    latency_count, latency_sum, latency_keys, latency_counts, ttft_count, ttft_sum, ttft_keys, ttft_counts)
SELECT b.project_id, b.grain, b.cube, b.bucket, {", ".join(f"b.{d}" for d in DIMENSIONS)}, b.score, sum(b.n)::int8,
       sum(b.total), sum(b.squares), COALESCE(string_agg(int4send(b.key), ''::bytea ORDER BY b.key) FILTER (WHERE b.n <> 0), ''),
       COALESCE(string_agg(int8send(b.n), ''::bytea ORDER BY b.key) FILTER (WHERE b.n <> 0), ''),
       0, 0, 0, 0, 0, 0, 0, 0, 0, 0, '', '', 0, 0, '', ''
FROM binned AS b JOIN tenancy_project AS p ON p.id = b.project_id
GROUP BY {", ".join(str(i) for i in range(1, _N + 2))}
HAVING bool_or(b.n <> 0) OR sum(b.total) <> 0
"""


def _feedback_state(project_id: int, start: datetime, dims: tuple[str, ...], thumbs: int | None,
                    rating: int | None) -> State | None:
    names: list[str] = []
    values: list[float] = []
    if thumbs is not None:
        names.append(FEEDBACK_THUMBS)
        values.append(1.0 if thumbs > 0 else 0.0)
    if rating is not None:
        names.append(FEEDBACK_RATING)
        values.append(float(rating))
    if not names:
        return None
    return project_id, start, dims, (FEEDBACK_COUNT, *names), (1.0, *values)


def _current(cur: Any, keys: list[Key]) -> tuple[dict[Key, State | None], set[Key]]:
    """The signals' states now ({key: None} for one gone, without a call or without a value), and
    the keys whose calls are still waiting to be processed."""
    ids: dict[str, list[int]] = defaultdict(list)
    for kind, row_id in keys:
        ids[kind].append(row_id)
    states: dict[Key, State | None] = dict.fromkeys(keys)
    waiting: set[Key] = set()
    n = len(DIMENSIONS)
    if ids["f"]:
        cur.execute(_FEEDBACK, {"ids": ids["f"]})
        for row_id, project_id, start, *rest in cur.fetchall():
            dims, pending, (thumbs, rating) = tuple(rest[:n]), rest[n], rest[n + 1:]
            key = ("f", row_id)
            states[key] = _feedback_state(project_id, start, dims, thumbs, rating)
            if pending:
                waiting.add(key)
    if ids["s"]:
        cur.execute(_SCORES, {"ids": ids["s"], "evaluator": EVALUATOR_SCORE_PREFIX + "%"})
        for row_id, project_id, start, *rest in cur.fetchall():
            dims, pending, (source, name, value) = tuple(rest[:n]), rest[n], rest[n + 1:]
            key = ("s", row_id)
            if value is not None and math.isfinite(value):
                states[key] = (project_id, start, dims, (score_rollup_name(source, name),), (float(value),))
            if pending:
                waiting.add(key)
    return states, waiting


def _ledger(cur: Any, project_id: int, keys: list[Key]) -> dict[Key, State | None]:
    """Lock the keys' ledger rows, inserting empty ones for signals never folded, and return what
    each is folded as. A row deleted while we waited for it (its signal went away) is inserted again."""
    found: dict[Key, State | None] = {}
    missing = sorted(keys)
    while missing:
        params = {"project": project_id, "kinds": [k for k, _ in missing], "ids": [i for _, i in missing]}
        cur.execute(_LEDGER_ADD, params)
        cur.execute(_LEDGER_LOCK, params)
        for kind, row_id, owner, start, dims, names, vals in cur.fetchall():
            found[(kind, row_id)] = (owner, start, tuple(dims), tuple(names), tuple(vals)) if names else None
        missing = [key for key in missing if key not in found]
    return found


def _parts(cur: Any, changes: list[tuple[State, int]]) -> None:
    """Append rollup parts for (state, weight +1 or -1) pairs."""
    columns: dict[str, list[Any]] = defaultdict(list)
    for (project_id, start, dims, names, values), weight in changes:
        for name, value in zip(names, values, strict=True):
            columns["project"].append(project_id)
            columns["start"].append(start)
            for dim, dim_value in zip(DIMENSIONS, dims, strict=True):
                columns[f"d_{dim}"].append(dim_value)
            columns["score"].append(name)
            columns["value"].append(value)
            columns["weight"].append(weight)
    if not columns:
        return
    columns["key"] = keys_of(np.asarray(columns["value"], dtype=np.float64)).tolist()
    horizon = datetime.now(timezone.utc) - timedelta(hours=settings.ROLLUP_MINUTE_HOURS)
    cur.execute(_PARTS, {**columns, "horizon": horizon, "every_cube": FEEDBACK_PREFIX})


def signals_fold(cur: Any, project_id: int, keys: list[Key]) -> set[Key]:
    """Fold the signals `keys` to their current state, in the caller's transaction (which holds
    the project's fold lock). Returns the keys left for later: their calls are not processed yet."""
    old = _ledger(cur, project_id, keys)
    new, waiting = _current(cur, keys)
    for key in waiting:
        new[key] = old[key]  # unchanged until the call is processed
    changed = [key for key in old if old[key] != new[key]]
    _parts(cur, [(old[k], -1) for k in changed if old[k]] + [(new[k], 1) for k in changed if new[k]])
    written = [{"kind": k[0], "row_id": k[1], "project_id": s[0], "start_time": s[1].isoformat(), "dims": s[2],
                "names": s[3], "vals": s[4]} for k in changed if (s := new[k])]
    if written:
        cur.execute(_LEDGER_WRITE, [msgspec.json.encode(written).decode()])
    gone = [key for key in old if new[key] is None]
    if gone:
        cur.execute(_LEDGER_DROP, {"kinds": [k for k, _ in gone], "ids": [i for _, i in gone]})
    return waiting


def _fold_batch(project_id: int) -> tuple[int, int]:
    """(queue rows consumed, queue rows claimed) for one batch, in one transaction."""
    with transaction.atomic(), connection.cursor() as cur:
        cur.execute("SET LOCAL statement_timeout = '120s'")
        cur.execute("SELECT pg_advisory_xact_lock_shared(%s, %s)", [LOCK_NAMESPACE, project_id])
        cur.execute(_CLAIM, [project_id, BATCH])
        claimed = cur.fetchall()
        if not claimed:
            return 0, 0
        waiting = signals_fold(cur, project_id, sorted({(kind, row_id) for _, kind, row_id in claimed}))
        done = [queue_id for queue_id, kind, row_id in claimed if (kind, row_id) not in waiting]
        cur.execute("DELETE FROM rollups_pendingsignal WHERE id = ANY(%s)", [done])
        return len(done), len(claimed)


def _fold_batch_retrying(project_id: int) -> tuple[int, int]:
    # Two workers whose batches share signals lock their ledger rows in key order, but a new row
    # (inserted) and an old one (locked) are taken in two statements, so a deadlock stays possible:
    # PostgreSQL rolls one back, claim included, and it simply tries again.
    for attempt in range(_ATTEMPTS):
        try:
            return _fold_batch(project_id)
        except OperationalError as error:
            if getattr(error.__cause__, "sqlstate", None) != _DEADLOCK or attempt == _ATTEMPTS - 1:
                raise
    return 0, 0


def project_signals_fold(*, project_id: int, max_batches: int = MAX_BATCHES) -> int:
    """Fold a project's queued signals, a batch per transaction. Returns the queue rows consumed."""
    done = 0
    for _ in range(max_batches):
        consumed, claimed = _fold_batch_retrying(project_id)
        done += consumed
        if claimed < BATCH or not consumed:  # the rest waits for its calls to be processed
            break
    return done


def backlog_remains(*, consumed: int, max_batches: int = MAX_BATCHES) -> bool:
    return consumed >= max_batches * BATCH


def projects_with_signals(*, min_age: timedelta = timedelta(seconds=10)) -> list[int]:
    """Projects with signals queued for a while: their message was lost, or their calls were late."""
    with connection.cursor() as cur:
        cur.execute("SELECT DISTINCT project_id FROM rollups_pendingsignal WHERE enqueued_at < %s",
                    [datetime.now(timezone.utc) - min_age])
        return [row[0] for row in cur.fetchall()]


def range_signals(cur: Any, project_id: int, start: datetime, end: datetime) -> list[Key]:
    """Every signal of the project's calls that started in [start, end), for a rebuild."""
    cur.execute(
        "SELECT 'f', f.id FROM telemetry_feedback f JOIN telemetry_call c ON c.id = f.call_id"
        " WHERE f.project_id = %(project)s AND c.project_id = %(project)s AND c.start_time >= %(start)s"
        " AND c.start_time < %(end)s"
        " UNION ALL SELECT 's', s.id FROM telemetry_score s JOIN telemetry_call c ON c.id = s.call_id"
        " WHERE s.project_id = %(project)s AND c.project_id = %(project)s AND c.start_time >= %(start)s"
        " AND c.start_time < %(end)s AND s.external_id NOT LIKE %(evaluator)s",
        {"project": project_id, "start": start, "end": end, "evaluator": EVALUATOR_SCORE_PREFIX + "%"})
    return [(kind, row_id) for kind, row_id in cur.fetchall()]


def after_run(project_id: int) -> None:
    """telemetry after-run hook (every run): fold what the run linked or what arrived alone."""
    from rollups.compact import project_compact
    from rollups.tasks import fold_signals

    try:
        consumed = project_signals_fold(project_id=project_id)
    except Exception:  # noqa: BLE001 - the queue is committed; beat's sweep folds it later
        log.warning("could not fold the signals of project %s", project_id, exc_info=True)
        return
    if backlog_remains(consumed=consumed):
        fold_signals.delay(project_id)
    elif consumed:
        project_compact(project_id=project_id)
