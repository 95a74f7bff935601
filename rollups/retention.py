"""Purge expired raw telemetry and rollup buckets, per project, in bounded batches.

Each DELETE touches at most BATCH rows and commits on its own, so purging never holds long
locks or bloats one transaction; whatever is left is taken by the next hourly run.
"""
from __future__ import annotations

from datetime import datetime, timedelta

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from rollups.cubes import CUBES
from tenancy.models import Project

BATCH = 10_000
MAX_BATCHES = 50  # per table per project per run


def _repeat(table: str, key: str, select: str, params: list[object]) -> int:
    """Delete the rows of `table` whose `key` the query `select` names, BATCH at a time.

    Ids first, in a MATERIALIZED CTE, then the delete by them: as `DELETE ... WHERE id IN (SELECT
    ... LIMIT n)` the planner may pick a nested-loop semi join that re-runs the LIMIT subquery for
    every row of the table, when its statistics say it is nearly empty (taken before it grew: the
    processing queue's 13-minute claim, telemetry/services.py). The CTE runs once whatever they say."""
    sql = (f"WITH doomed AS MATERIALIZED ({select} LIMIT {BATCH})"
           f" DELETE FROM {table} t USING doomed WHERE t.{key} = doomed.{key}")
    total = 0
    for _ in range(MAX_BATCHES):
        with transaction.atomic(), connection.cursor() as cur:
            cur.execute(sql, params)
            total += cur.rowcount
            if cur.rowcount < BATCH:
                break
    return total


def _delete_calls(project_id: int, cutoff: datetime) -> int:
    """Calls and what hangs off them. Django's CASCADE is not in the database, so children first."""
    deleted = 0
    for _ in range(MAX_BATCHES):
        with transaction.atomic(), connection.cursor() as cur:
            cur.execute("SELECT id FROM telemetry_call WHERE project_id = %s AND start_time < %s LIMIT %s",
                        [project_id, cutoff, BATCH])
            ids = [row[0] for row in cur.fetchall()]
            if not ids:
                break
            # Rollups outlive raw rows: the feedback and scores purged here stay counted. Without
            # their ledger rows, the deletes they queue fold nothing out (rollups/signals.py).
            cur.execute("DELETE FROM rollups_signalfold WHERE (kind, row_id) IN ("
                        " SELECT 'f', id FROM telemetry_feedback WHERE call_id = ANY(%(ids)s) UNION ALL"
                        " SELECT 's', id FROM telemetry_score WHERE call_id = ANY(%(ids)s)"
                        " AND external_id NOT LIKE %(evaluator)s)", {"ids": ids, "evaluator": "eval:%"})
            # Evaluation rows reference their call too (a foreign key): without these deletes an
            # evaluated call could never expire. Queued evaluations of expiring calls go with them.
            for table in ("telemetry_callpayload", "telemetry_score", "telemetry_feedback", "quality_flag",
                          "quality_evaluation", "quality_pendingevaluation"):
                cur.execute(f"DELETE FROM {table} WHERE call_id = ANY(%s)", [ids])
            cur.execute("DELETE FROM telemetry_call WHERE id = ANY(%s)", [ids])
            deleted += len(ids)
            if len(ids) < BATCH:
                break
    return deleted


def project_purge(*, project: Project, now: datetime | None = None) -> dict[str, int]:
    now = now or timezone.now()
    pid = project.id
    payload_cutoff = now - timedelta(days=project.retention("payload_days"))
    call_cutoff = now - timedelta(days=project.retention("call_days"))
    out = {
        "payloads": _repeat(
            "telemetry_callpayload", "call_id", "SELECT p.call_id FROM telemetry_call c"
            " JOIN telemetry_callpayload p ON p.call_id = c.id WHERE c.project_id = %s AND c.start_time < %s",
            [pid, payload_cutoff]),
        "calls": _delete_calls(pid, call_cutoff),
        "traces": _repeat(
            "telemetry_trace", "id", "SELECT id FROM telemetry_trace WHERE project_id = %s"
            " AND COALESCE(end_time, start_time) < %s", [pid, call_cutoff]),
        "rollups": 0,
    }
    grains = {"m": now - timedelta(hours=settings.ROLLUP_MINUTE_HOURS),
              "h": now - timedelta(days=project.retention("hour_rollup_days")),
              "d": now - timedelta(days=project.retention("day_rollup_days"))}
    for grain, cutoff in grains.items():
        for cube in CUBES:  # the index is (project, grain, cube, bucket): one range scan each
            out["rollups"] += _repeat(
                "rollups_rollup", "id", "SELECT id FROM rollups_rollup WHERE project_id = %s"
                " AND grain = %s AND cube = %s AND bucket < %s", [pid, grain, cube, cutoff])
        if grain != "m":
            out["rollups"] += _repeat(
                "rollups_errorrollup", "id", "SELECT id FROM rollups_errorrollup WHERE"
                " project_id = %s AND grain = %s AND bucket < %s", [pid, grain, cutoff])
    out["rollups"] += _repeat(
        "rollups_entityrollup", "id", "SELECT id FROM rollups_entityrollup WHERE project_id = %s"
        " AND entity = ANY(ARRAY['user', 'session']) AND bucket < %s", [pid, grains["d"]])
    return out
