"""Merge rollup parts: every fold appends rows, the compactor turns a bucket's rows into one row
per dimension combination, so reads stay small however many batches touched a bucket.

Each chunk of buckets is one transaction: DELETE ... RETURNING takes the buckets' rows, numpy
merges them (sums, maxima, histograms: rollups/aggregate.py) and COPY writes the merged rows
back. A fold committing meanwhile only appends parts the next run picks up, and the delete and
the insert commit together, so a part is merged exactly once. Readers sum over rows: they see
the same figures before and after.
"""
from __future__ import annotations

from decimal import Decimal
from typing import Any

import numpy as np
from django.db import connection, transaction

from rollups.aggregate import KEY_DTYPE, Groups, Hex, histograms, unpack
from rollups.copyrows import copy_rows
from rollups.cubes import DIMENSIONS
from rollups.fold import LOCK_NAMESPACE, MEASURES

# Held (try, exclusive) by a compaction run: a second run for the same project skips instead of
# deleting the same rows and waiting on their locks.
COMPACT_NAMESPACE = 7402
BUCKETS_PER_CHUNK = 200

_KEY = ["grain", "cube", "bucket", *DIMENSIONS, "score"]
_MEASURES = [*MEASURES, "score_count", "score_sum", "score_keys", "score_counts", "score_sumsq"]
_TAKE = f"""
DELETE FROM rollups_rollup r
USING unnest(%(grains)s::text[], %(buckets)s::timestamptz[]) AS sl(grain, bucket)
WHERE r.project_id = %(project)s AND r.grain = sl.grain AND r.bucket = sl.bucket
RETURNING {", ".join("r." + c for c in _KEY + _MEASURES)}
"""
_COPY = f"COPY rollups_rollup (project_id, {', '.join(_KEY + _MEASURES)}, compacted) FROM STDIN"
def merge_parts(project_id: int, parts: list[tuple[Any, ...]]) -> list[tuple[Any, ...]]:
    """One merged row per key among the parts, in _COPY column order."""
    width = len(_KEY)
    index: dict[tuple[Any, ...], int] = {}
    gid = np.fromiter((index.setdefault(part[:width], len(index)) for part in parts), np.int64, len(parts))
    groups = Groups(gid, len(index))
    column = {name: [part[width + i] for part in parts] for i, name in enumerate(_MEASURES)}
    ints = {name: groups.sum(np.asarray(column[name], dtype=np.int64)) for name in
            ("calls", "errors", "input_tokens", "output_tokens", "cached_input_tokens", "reasoning_tokens",
             "unpriced", "latency_count", "ttft_count", "score_count")}
    floats = {name: groups.sum(np.asarray(column[name], dtype=np.float64))
              for name in ("latency_sum", "ttft_sum", "score_sum", "cost_sumsq", "score_sumsq")}
    maxima = {name: groups.max(np.asarray([np.nan if v is None else v for v in column[name]], dtype=np.float64))
              for name in ("latency_max", "ttft_max")}
    cost = [Decimal(0)] * len(index)
    for g, value in zip(gid.tolist(), column["cost_usd"], strict=True):
        cost[g] += value
    hist = {kind: _merged(gid, len(index), column[f"{kind}_keys"], column[f"{kind}_counts"])
            for kind in ("latency", "ttft", "score")}
    keys = list(index)
    return [(project_id, *keys[g], *(int(ints[n][g]) for n in MEASURES[:6]), cost[g], int(ints["unpriced"][g]),
             int(ints["latency_count"][g]), float(floats["latency_sum"][g]), _max(maxima["latency_max"][g]),
             *hist["latency"][g], int(ints["ttft_count"][g]), float(floats["ttft_sum"][g]),
             _max(maxima["ttft_max"][g]), *hist["ttft"][g], float(floats["cost_sumsq"][g]), int(ints["score_count"][g]),
             float(floats["score_sum"][g]), *hist["score"][g], float(floats["score_sumsq"][g]), True)
            for g in range(len(index))]


def _max(value: float) -> float | None:
    return None if np.isnan(value) else float(value)


def _merged(gid: np.ndarray, count: int, keys: list[bytes], counts: list[bytes]) -> list[tuple[Hex, Hex]]:
    lengths = np.fromiter((len(k) // KEY_DTYPE.itemsize for k in keys), np.int64, len(keys))
    flat_keys, flat_counts = unpack(b"".join(keys), b"".join(counts))
    return histograms(np.repeat(gid, lengths), count, flat_keys, flat_counts.astype(np.float64))


def _pending(cur: Any, project_id: int, limit: int) -> list[tuple[str, Any]]:
    cur.execute("SELECT DISTINCT grain, bucket FROM rollups_rollup WHERE project_id = %s AND NOT compacted"
                " ORDER BY grain, bucket LIMIT %s", [project_id, limit])
    return cur.fetchall()


def project_compact(*, project_id: int, max_chunks: int = 1000) -> int:
    """Merge the parts of a project's rollups, a chunk at a time, each in its own transaction.
    Returns how many buckets were compacted (0 if another run holds the project)."""
    done = 0
    for _ in range(max_chunks):
        with transaction.atomic(), connection.cursor() as cur:
            cur.execute("SELECT pg_try_advisory_xact_lock(%s, %s)", [COMPACT_NAMESPACE, project_id])
            if not cur.fetchone()[0]:
                return done
            # Shared, like a fold: a rebuild (exclusive) never sees its range half-compacted.
            cur.execute("SELECT pg_advisory_xact_lock_shared(%s, %s)", [LOCK_NAMESPACE, project_id])
            slices = _pending(cur, project_id, BUCKETS_PER_CHUNK)
            if not slices:
                return done
            cur.execute(_TAKE, {"project": project_id, "grains": [s[0] for s in slices],
                                "buckets": [s[1] for s in slices]})
            copy_rows(cur, _COPY, merge_parts(project_id, cur.fetchall()))
            done += len(slices)
    return done


def projects_with_parts() -> list[int]:
    with connection.cursor() as cur:
        cur.execute("SELECT DISTINCT project_id FROM rollups_rollup WHERE NOT compacted")
        return [row[0] for row in cur.fetchall()]
