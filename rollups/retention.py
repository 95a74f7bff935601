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


def _repeat(sql: str, params: list[object]) -> int:
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
            for table in ("telemetry_callpayload", "telemetry_score", "telemetry_feedback"):
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
            "DELETE FROM telemetry_callpayload WHERE call_id IN (SELECT c.id FROM telemetry_call c"
            " JOIN telemetry_callpayload p ON p.call_id = c.id WHERE c.project_id = %s AND c.start_time < %s"
            f" LIMIT {BATCH})", [pid, payload_cutoff]),
        "calls": _delete_calls(pid, call_cutoff),
        "traces": _repeat(
            "DELETE FROM telemetry_trace WHERE id IN (SELECT id FROM telemetry_trace WHERE project_id = %s"
            f" AND COALESCE(end_time, start_time) < %s LIMIT {BATCH})", [pid, call_cutoff]),
        "rollups": 0,
    }
    grains = {"m": now - timedelta(hours=settings.ROLLUP_MINUTE_HOURS),
              "h": now - timedelta(days=project.retention("hour_rollup_days")),
              "d": now - timedelta(days=project.retention("day_rollup_days"))}
    for grain, cutoff in grains.items():
        for cube in CUBES:  # the index is (project, grain, cube, bucket): one range scan each
            out["rollups"] += _repeat(
                "DELETE FROM rollups_rollup WHERE id IN (SELECT id FROM rollups_rollup WHERE project_id = %s"
                f" AND grain = %s AND cube = %s AND bucket < %s LIMIT {BATCH})", [pid, grain, cube, cutoff])
        if grain != "m":
            out["rollups"] += _repeat(
                "DELETE FROM rollups_errorrollup WHERE id IN (SELECT id FROM rollups_errorrollup WHERE"
                f" project_id = %s AND grain = %s AND bucket < %s LIMIT {BATCH})", [pid, grain, cutoff])
    out["rollups"] += _repeat(
        "DELETE FROM rollups_entityrollup WHERE id IN (SELECT id FROM rollups_entityrollup WHERE project_id = %s"
        f" AND entity = ANY(ARRAY['user', 'session']) AND bucket < %s LIMIT {BATCH})", [pid, grains["d"]])
    return out
