"""Fold a batch of newly processed calls into the rollups, inside the worker's claim transaction.

The batch's calls are read once and grouped in numpy by every (grain, cube) at once (see
rollups/aggregate.py); latencies are binned with obs_sketch_key (DDSketch's mapping, see
rollups/sketch.py). The result is *appended* with COPY as new rollup parts, never upserted: an
upsert made every worker wait for the row locks of the shared hour and day rows, and merging two
histograms per row in SQL cost more than the aggregation itself. rollups/compact.py merges parts
later, in bulk. Because the calls were claimed in the same transaction, a batch is folded exactly
once or not at all.
"""
from __future__ import annotations

from datetime import datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

import numpy as np
from django.conf import settings
from django.utils import timezone as dj_timezone

from rollups import dists
from rollups.aggregate import Groups, codes, group_ids, histograms
from rollups.copyrows import copy_rows
from rollups.cubes import CUBES, DIMENSIONS, MODEL_CALL_KINDS

MEASURES = ["calls", "errors", "input_tokens", "output_tokens", "cached_input_tokens", "reasoning_tokens",
            "cost_usd", "unpriced", "latency_count", "latency_sum", "latency_max", "latency_keys", "latency_counts",
            "ttft_count", "ttft_sum", "ttft_max", "ttft_keys", "ttft_counts", "cost_sumsq"]
COLUMNS = ["project_id", "grain", "cube", "bucket", *DIMENSIONS, *MEASURES]
COPY_SQL = f"COPY rollups_rollup ({', '.join(COLUMNS)}) FROM STDIN"
PICO = Decimal(10) ** 12
GRAIN_MICROS = {"m": 60_000_000, "h": 3_600_000_000, "d": 86_400_000_000}
# obs_sketch_key is NULL for a missing value; the select maps that to this sentinel.
NO_KEY = -(1 << 20)
EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)

SELECT_CALLS = f"""
SELECT {", ".join(f"COALESCE({d}, '')" for d in DIMENSIONS)},
       (extract(epoch FROM start_time) * 1000000)::int8, COALESCE(latency_ms, 'NaN'), COALESCE(ttft_ms, 'NaN'),
       COALESCE(obs_sketch_key(latency_ms), {NO_KEY}), COALESCE(obs_sketch_key(ttft_ms), {NO_KEY}),
       COALESCE(input_tokens, 0), COALESCE(output_tokens, 0), COALESCE(cached_input_tokens, 0),
       COALESCE(reasoning_tokens, 0), COALESCE(cost_total_usd, 0),
       (cost_source = 'unknown' AND kind = ANY(%(model_kinds)s)){dists.SELECT_EXTRA}
FROM telemetry_call {dists.JOIN_PAYLOAD} WHERE id = ANY(%(ids)s)
"""


def _batch(rows: list[tuple[Any, ...]]) -> dict[str, Any]:
    columns = list(zip(*rows, strict=True))
    n = len(DIMENSIONS)
    data: dict[str, Any] = {"dims": [np.asarray(columns[i], dtype=object) for i in range(n)]}
    names = ["start_us", "latency", "ttft", "lk", "tk", "tin", "tout", "tcached", "treason", "cost", "unpriced"]
    for offset, name in enumerate(names):
        data[name] = np.asarray(columns[n + offset])
    # Picodollars as Python ints: exact sums at any magnitude (costs have 12 decimal places).
    data["cost"] = np.asarray([int(cost * PICO) for cost in columns[n + 9]], dtype=object)
    # Each call's cost squared, in floating USD: the variance of cost per call (prompts' Welch test).
    data["cost_sq"] = np.asarray(columns[n + 9], dtype=np.float64) ** 2
    data["dim_codes"] = [codes(values) for values in data["dims"]]
    data["err"] = data["dims"][DIMENSIONS.index("status")] == "error"
    if len(columns) > n + len(names):  # the distributions' columns (rollups/dists.py)
        dists.prepare(data, columns[n + len(names):])
    return data


def _rows(project_id: int, grain: str, data: dict[str, Any], take: np.ndarray | None,
          dist_lines: list[str] | None = None) -> list[tuple[Any, ...]]:
    """Rollup rows of one grain for every cube, from the batch rows in `take` (all when None); the
    distribution rows of the same groups (rollups/dists.py) go to `dist_lines` as COPY lines."""
    pick = (lambda a: a) if take is None else (lambda a: a[take])
    micros = GRAIN_MICROS[grain]
    bucket_of = pick(data["start_us"]) // micros
    bucket_codes = codes(bucket_of)
    latency, ttft, lk, tk = pick(data["latency"]), pick(data["ttft"]), pick(data["lk"]), pick(data["tk"])
    has_latency, has_ttft = lk != NO_KEY, tk != NO_KEY
    out: list[tuple[Any, ...]] = []
    for cube, dims in CUBES.items():
        if grain == "m" and cube == "all":
            continue  # every dimension at minute grain would be nearly one row per call
        idx = [DIMENSIONS.index(d) for d in dims]
        gid, count = group_ids([bucket_codes, *(pick(data["dim_codes"][i]) for i in idx)])
        groups = Groups(gid, count)
        first = groups.first()
        sums = {name: groups.sum(pick(data[name])) for name in ("tin", "tout", "tcached", "treason", "cost", "cost_sq")}
        calls, errors, unpriced = groups.size(), groups.sum(pick(data["err"])), groups.sum(pick(data["unpriced"]))
        lcount, tcount = groups.sum(has_latency), groups.sum(has_ttft)
        lsum = groups.sum(np.where(has_latency, latency, 0.0))
        tsum = groups.sum(np.where(has_ttft, ttft, 0.0))
        lmax, tmax = groups.max(latency), groups.max(ttft)
        lhist = histograms(gid[has_latency], count, lk[has_latency])
        thist = histograms(gid[has_ttft], count, tk[has_ttft])
        dim_columns = [pick(values)[first].tolist() if i in idx else [""] * count
                       for i, values in enumerate(data["dims"])]
        buckets = [EPOCH + timedelta(microseconds=b * micros) for b in bucket_of[first].tolist()]
        costs = [Decimal(c) / PICO for c in sums["cost"]]
        # Whole columns to Python lists, then zip: per-element numpy scalar conversion was the slow part.
        columns = [
            calls, errors, sums["tin"], sums["tout"], sums["tcached"], sums["treason"], costs, unpriced,
            lcount, lsum, _nullable(lmax), [h[0] for h in lhist], [h[1] for h in lhist],
            tcount, tsum, _nullable(tmax), [h[0] for h in thist], [h[1] for h in thist], sums["cost_sq"],
        ]
        as_lists = [c if isinstance(c, list) else c.tolist() for c in columns]
        out.extend(zip([project_id] * count, [grain] * count, [cube] * count, buckets, *dim_columns, *as_lists, strict=True))
        if dist_lines is not None:
            dist_lines += dists.lines(project_id, grain, cube, data, gid, count, first, bucket_of, micros, take)
    return out


def _nullable(values: np.ndarray) -> list[float | None]:
    return [None if v != v else v for v in values.tolist()]  # NaN (no value in the group) -> NULL


def rollup_rows(project_id: int, rows: list[tuple[Any, ...]], minute_horizon: datetime,
                dist_lines: list[str] | None = None) -> list[tuple[Any, ...]]:
    """Rollup parts (COLUMNS order) of a batch of calls read with SELECT_CALLS; with `dist_lines`, the
    batch's distribution and mix rows are added to it as COPY lines (rollups/dists.py)."""
    if not rows:
        return []
    data = _batch(rows)
    recent = data["start_us"] >= int(minute_horizon.timestamp() * 1_000_000)
    out = _rows(project_id, "h", data, None, dist_lines) + _rows(project_id, "d", data, None, dist_lines)
    if recent.any():
        out += _rows(project_id, "m", data, None if recent.all() else np.flatnonzero(recent))
    return out


FOLD_ENTITIES = """
INSERT INTO rollups_entityrollup (project_id, entity, bucket, key, calls, errors, tokens, cost_usd)
SELECT %(project)s, e.entity, date_trunc('day', t.start_time, 'UTC'), e.key, count(*),
       sum((t.status = 'error')::int), sum(COALESCE(t.input_tokens, 0) + COALESCE(t.output_tokens, 0)),
       sum(COALESCE(t.cost_total_usd, 0))
FROM telemetry_call t CROSS JOIN LATERAL (VALUES ('user', t.user_id), ('session', t.session_id)) AS e(entity, key)
WHERE t.id = ANY(%(ids)s) AND t.kind = ANY(%(model_kinds)s) AND e.key <> ''
GROUP BY 2, 3, 4 ORDER BY 2, 3, 4
ON CONFLICT (project_id, entity, bucket, key) DO UPDATE SET
    calls = rollups_entityrollup.calls + EXCLUDED.calls, errors = rollups_entityrollup.errors + EXCLUDED.errors,
    tokens = rollups_entityrollup.tokens + EXCLUDED.tokens, cost_usd = rollups_entityrollup.cost_usd + EXCLUDED.cost_usd
"""
FOLD_ERRORS = """
INSERT INTO rollups_errorrollup (project_id, grain, bucket, model, error_type, count)
SELECT %(project)s, g.grain, date_trunc(g.unit, t.start_time, 'UTC'), t.model, t.error_type, count(*)
FROM telemetry_call t CROSS JOIN (VALUES ('h', 'hour'), ('d', 'day')) AS g(grain, unit)
WHERE t.id = ANY(%(ids)s) AND t.status = 'error' AND t.kind = ANY(%(model_kinds)s)
GROUP BY 2, 3, 4, 5 ORDER BY 2, 3, 4, 5
ON CONFLICT (project_id, grain, bucket, model, error_type) DO UPDATE SET
    count = rollups_errorrollup.count + EXCLUDED.count
"""


# Folds hold this advisory lock shared; a rebuild holds it exclusively, so no batch is folded
# into a range while that range is being deleted and recomputed.
LOCK_NAMESPACE = 7401


def fold_calls(cursor: Any, project_id: int, call_ids: list[int]) -> None:
    params = {"project": project_id, "ids": call_ids, "model_kinds": list(MODEL_CALL_KINDS)}
    horizon = dj_timezone.now() - timedelta(hours=settings.ROLLUP_MINUTE_HOURS)
    cursor.execute("SELECT pg_advisory_xact_lock_shared(%s, %s)", [LOCK_NAMESPACE, project_id])
    cursor.execute(SELECT_CALLS, params)
    dist_lines: list[str] = []
    parts = rollup_rows(project_id, cursor.fetchall(), horizon, dist_lines)
    copy_rows(cursor, COPY_SQL, parts)
    dists.copy_lines(cursor, dist_lines)
    # Upserts last: the row locks they take on shared user and error rows are held until the
    # claim transaction commits, so a second worker waits for moments, not for a whole batch.
    for sql in (FOLD_ENTITIES, FOLD_ERRORS):
        cursor.execute(sql, params)
