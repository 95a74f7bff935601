"""Writes for rollups beyond the incremental fold: rebuilding a range from raw calls and signals."""
from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from typing import Any

from django.db import connection, transaction

from rollups.fold import LOCK_NAMESPACE, fold_calls
from rollups.signals import BATCH as SIGNAL_BATCH
from rollups.signals import range_signals, signals_fold

DAY = timedelta(days=1)
CHUNK = 20_000

# Apps whose figures live in rollups_rollup too (quality's evaluator scores and flags) fold them
# again for each rebuilt chunk of calls: fn(cursor, project_id, call ids). rollups never imports them.
_REBUILD_FOLDERS: list[Callable[[Any, int, list[int]], None]] = []


def register_rebuild_folder(folder: Callable[[Any, int, list[int]], None]) -> None:
    if folder not in _REBUILD_FOLDERS:
        _REBUILD_FOLDERS.append(folder)


def _day_floor(when: datetime) -> datetime:
    return when.astimezone(timezone.utc).replace(hour=0, minute=0, second=0, microsecond=0)


def rollups_rebuild(*, project_id: int, start: datetime, end: datetime) -> tuple[datetime, datetime, int]:
    """Recompute every rollup of [start, end), widened to whole UTC days, from processed raw calls
    and their feedback and client scores (rollups/signals.py). Runs in one transaction under the
    project's exclusive fold lock: readers see the old figures until it commits, and workers wait
    rather than fold into a half-rebuilt range."""
    lo = _day_floor(start)
    hi = _day_floor(end) + (DAY if _day_floor(end) != end else timedelta(0))
    folded = 0
    with transaction.atomic(), connection.cursor() as cur:
        cur.execute("SELECT pg_advisory_xact_lock(%s, %s)", [LOCK_NAMESPACE, project_id])
        for table in ("rollups_rollup", "rollups_errorrollup", "rollups_entityrollup"):
            cur.execute(f"DELETE FROM {table} WHERE project_id = %s AND bucket >= %s AND bucket < %s",
                        [project_id, lo, hi])
        last_id = 0
        while True:
            cur.execute(
                "SELECT id FROM telemetry_call WHERE project_id = %s AND start_time >= %s AND start_time < %s"
                " AND id > %s AND NOT EXISTS (SELECT 1 FROM telemetry_pendingcall p WHERE p.call_id = telemetry_call.id)"
                " ORDER BY id LIMIT %s",
                [project_id, lo, hi, last_id, CHUNK])
            ids = [row[0] for row in cur.fetchall()]
            if not ids:
                break
            fold_calls(cur, project_id, ids)
            for folder in _REBUILD_FOLDERS:
                folder(cur, project_id, ids)
            folded += len(ids)
            last_id = ids[-1]
        # The signals' parts went with the range: their ledger rows say what is no longer there.
        cur.execute("DELETE FROM rollups_signalfold WHERE project_id = %s AND start_time >= %s AND start_time < %s",
                    [project_id, lo, hi])
        keys = range_signals(cur, project_id, lo, hi)
        for i in range(0, len(keys), SIGNAL_BATCH):
            signals_fold(cur, project_id, keys[i:i + SIGNAL_BATCH])
    return lo, hi, folded
