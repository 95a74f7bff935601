"""Fold a batch of newly processed calls into the rollups (runs inside the worker's claim transaction).

pandas groups the batch once per grain by every dimension, then derives each smaller cube from
that result; one upsert per table adds the partial aggregates to what is stored. Because the
calls were claimed in the same transaction, a batch is folded exactly once or not at all.
"""
from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from typing import Any

import msgspec
import numpy as np
import pandas as pd
from django.conf import settings
from django.utils import timezone

from rollups.cubes import CUBES, DIMENSIONS, MODEL_CALL_KINDS
from rollups.sketch import keys_for

CALL_COLUMNS = ["start_time", "kind", "provider", "model", "prompt_name", "prompt_version", "feature", "team",
                "environment", "status", "error_type", "input_tokens", "output_tokens", "cached_input_tokens",
                "reasoning_tokens", "cost_total_usd", "cost_source", "latency_ms", "ttft_ms", "user_id", "session_id"]
_SELECT = f"SELECT {', '.join(CALL_COLUMNS)} FROM telemetry_call WHERE id = ANY(%s)"
SUMS = {"calls": "sum", "errors": "sum", "input_tokens": "sum", "output_tokens": "sum", "cached_input_tokens": "sum",
        "reasoning_tokens": "sum", "cost_pico": "sum", "unpriced": "sum", "latency_count": "sum",
        "latency_sum": "sum", "latency_max": "max", "ttft_count": "sum", "ttft_sum": "sum", "ttft_max": "max"}
FREQ = {"m": "min", "h": "h", "d": "D"}
PICO = Decimal(10) ** 12
_encoder = msgspec.json.Encoder()

_ROLLUP_COLUMNS = ["grain", "cube", "bucket", *DIMENSIONS, "calls", "errors", "input_tokens", "output_tokens",
                   "cached_input_tokens", "reasoning_tokens", "cost_pico", "unpriced", "latency_count", "latency_sum",
                   "latency_max", "latency_keys", "latency_counts", "ttft_count", "ttft_sum", "ttft_max", "ttft_keys",
                   "ttft_counts"]
_TYPES = {"bucket": "timestamptz", "latency_sum": "float8", "latency_max": "float8", "ttft_sum": "float8",
          "ttft_max": "float8", "latency_keys": "int[]", "latency_counts": "int8[]", "ttft_keys": "int[]",
          "ttft_counts": "int8[]", "cost_pico": "numeric"}
_INT_COLUMNS = {"calls", "errors", "input_tokens", "output_tokens", "cached_input_tokens", "reasoning_tokens",
                "unpriced", "latency_count", "ttft_count"}


def _coltype(name: str) -> str:
    return _TYPES.get(name) or ("int8" if name in _INT_COLUMNS else "text")


_STORED = [c for c in _ROLLUP_COLUMNS if c != "cost_pico"]
_UPSERT_ROLLUPS = (
    "INSERT INTO rollups_rollup (project_id, " + ", ".join(_STORED) + ", cost_usd) "
    "SELECT %s, " + ", ".join(f"u.{c}" for c in _STORED) + ", u.cost_pico / 1e12 "
    "FROM json_to_recordset(%s::json) AS u(" + ", ".join(f"{c} {_coltype(c)}" for c in _ROLLUP_COLUMNS) + ") "
    "ORDER BY u.grain, u.cube, u.bucket "
    "ON CONFLICT (project_id, grain, cube, bucket, " + ", ".join(DIMENSIONS) + ") DO UPDATE SET "
    + ", ".join(f"{c} = rollups_rollup.{c} + EXCLUDED.{c}" for c in [
        "calls", "errors", "input_tokens", "output_tokens", "cached_input_tokens", "reasoning_tokens", "cost_usd",
        "unpriced", "latency_count", "latency_sum", "ttft_count", "ttft_sum"])
    + ", latency_max = GREATEST(rollups_rollup.latency_max, EXCLUDED.latency_max)"
    ", ttft_max = GREATEST(rollups_rollup.ttft_max, EXCLUDED.ttft_max)"
    ", (latency_keys, latency_counts) = (SELECT keys, counts FROM obs_hist_merge(rollups_rollup.latency_keys,"
    " rollups_rollup.latency_counts, EXCLUDED.latency_keys, EXCLUDED.latency_counts))"
    ", (ttft_keys, ttft_counts) = (SELECT keys, counts FROM obs_hist_merge(rollups_rollup.ttft_keys,"
    " rollups_rollup.ttft_counts, EXCLUDED.ttft_keys, EXCLUDED.ttft_counts))"
)
_UPSERT_ENTITIES = (
    "INSERT INTO rollups_entityrollup (project_id, entity, bucket, key, calls, errors, tokens, cost_usd) "
    "SELECT %s, u.entity, u.bucket, u.key, u.calls, u.errors, u.tokens, u.cost_pico / 1e12 "
    "FROM json_to_recordset(%s::json) AS u(entity text, bucket timestamptz, key text, calls int8, errors int8,"
    " tokens int8, cost_pico numeric) ORDER BY u.entity, u.bucket, u.key "
    "ON CONFLICT (project_id, entity, bucket, key) DO UPDATE SET calls = rollups_entityrollup.calls + EXCLUDED.calls,"
    " errors = rollups_entityrollup.errors + EXCLUDED.errors, tokens = rollups_entityrollup.tokens + EXCLUDED.tokens,"
    " cost_usd = rollups_entityrollup.cost_usd + EXCLUDED.cost_usd"
)
_UPSERT_ERRORS = (
    "INSERT INTO rollups_errorrollup (project_id, grain, bucket, model, error_type, count) "
    "SELECT %s, u.grain, u.bucket, u.model, u.error_type, u.count "
    "FROM json_to_recordset(%s::json) AS u(grain text, bucket timestamptz, model text, error_type text, count int8) "
    "ORDER BY u.grain, u.bucket, u.model, u.error_type "
    "ON CONFLICT (project_id, grain, bucket, model, error_type) DO UPDATE SET"
    " count = rollups_errorrollup.count + EXCLUDED.count"
)


def _frame(rows: list[tuple[Any, ...]]) -> pd.DataFrame:
    df = pd.DataFrame(rows, columns=CALL_COLUMNS)
    df["start_time"] = pd.to_datetime(df["start_time"], utc=True)
    for column in ("input_tokens", "output_tokens", "cached_input_tokens", "reasoning_tokens"):
        df[column] = df[column].fillna(0).astype("int64")
    # Exact cost sums: integer picodollars (cost columns have 12 decimal places).
    df["cost_pico"] = [int(c.scaleb(12)) if c is not None else 0 for c in df["cost_total_usd"]]
    df["calls"] = 1
    df["errors"] = (df["status"] == "error").astype("int64")
    df["unpriced"] = ((df["cost_source"] == "unknown") & df["kind"].isin(MODEL_CALL_KINDS)).astype("int64")
    for name, column in (("latency", "latency_ms"), ("ttft", "ttft_ms")):
        values = pd.to_numeric(df[column], errors="coerce")
        present = values.notna()
        df[f"{name}_count"] = present.astype("int64")
        df[f"{name}_sum"] = values.fillna(0.0)
        df[f"{name}_max"] = values
        df[f"{name}_key"] = pd.Series(np.where(present, keys_for(values.fillna(1).to_numpy()), -(2**31)),
                                      index=df.index)
    return df


def _hist(df: pd.DataFrame, keys: list[str], name: str) -> pd.DataFrame:
    present = df[df[f"{name}_count"] > 0]
    return present.groupby([*keys, f"{name}_key"], sort=False, observed=True).size().rename("n").reset_index()


def _rollup_rows(df: pd.DataFrame) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    horizon = timezone.now() - timedelta(hours=settings.ROLLUP_MINUTE_HOURS)
    for grain, freq in FREQ.items():
        part = df[df["start_time"] >= horizon] if grain == "m" else df
        if part.empty:
            continue
        part = part.assign(bucket=part["start_time"].dt.floor(freq))
        base_keys = ["bucket", *DIMENSIONS]
        base = part.groupby(base_keys, sort=False, observed=True).agg(SUMS).reset_index()
        hists = {name: _hist(part, base_keys, name) for name in ("latency", "ttft")}
        for cube, dims in CUBES.items():
            keys = ["bucket", *dims]
            sums = base.groupby(keys, sort=False, observed=True).agg(SUMS).reset_index()
            for name, hist in hists.items():
                merged = hist.groupby([*keys, f"{name}_key"], sort=False, observed=True)["n"].sum().reset_index()
                lists = merged.groupby(keys, sort=False, observed=True).agg(
                    **{f"{name}_keys": (f"{name}_key", list), f"{name}_counts": ("n", list)}).reset_index()
                sums = sums.merge(lists, on=keys, how="left")
            for record in sums.to_dict("records"):
                row = {dim: record.get(dim, "") if dim in dims else "" for dim in DIMENSIONS}
                row.update({k: record[k] for k in SUMS if k in record})
                for name in ("latency", "ttft"):
                    keys_list = record.get(f"{name}_keys")
                    ok = isinstance(keys_list, list)
                    row[f"{name}_keys"] = [int(k) for k in keys_list] if ok else []
                    row[f"{name}_counts"] = [int(c) for c in record[f"{name}_counts"]] if ok else []
                    if pd.isna(row[f"{name}_max"]):
                        row[f"{name}_max"] = None
                row.update(grain=grain, cube=cube, bucket=record["bucket"].isoformat())
                rows.append(row)
    return rows


def _entity_rows(df: pd.DataFrame) -> list[dict[str, Any]]:
    calls = df[df["kind"].isin(MODEL_CALL_KINDS)]
    if calls.empty:
        return []
    calls = calls.assign(bucket=calls["start_time"].dt.floor("D"),
                         tokens=calls["input_tokens"] + calls["output_tokens"])
    rows = []
    for entity, column in (("user", "user_id"), ("session", "session_id")):
        part = calls[calls[column] != ""]
        grouped = part.groupby(["bucket", column], sort=False).agg(
            calls=("calls", "sum"), errors=("errors", "sum"), tokens=("tokens", "sum"), cost_pico=("cost_pico", "sum"))
        for (bucket, key), values in grouped.iterrows():
            rows.append({"entity": entity, "bucket": bucket.isoformat(), "key": key, **{
                k: int(v) for k, v in values.items()}})
    return rows


def _error_rows(df: pd.DataFrame) -> list[dict[str, Any]]:
    failed = df[(df["errors"] == 1) & df["kind"].isin(MODEL_CALL_KINDS)]
    rows = []
    for grain in ("h", "d"):
        grouped = failed.assign(bucket=failed["start_time"].dt.floor(FREQ[grain])).groupby(
            ["bucket", "model", "error_type"], sort=False).size()
        rows += [{"grain": grain, "bucket": b.isoformat(), "model": m, "error_type": e, "count": int(n)}
                 for (b, m, e), n in grouped.items()]
    return rows


def _json(rows: list[dict[str, Any]]) -> str:
    return _encoder.encode(rows).decode()


def fold_calls(cursor: Any, project_id: int, call_ids: list[int]) -> None:
    cursor.execute(_SELECT, [call_ids])
    fetched = cursor.fetchall()
    if not fetched:
        return
    df = _frame(fetched)
    for sql, rows in ((_UPSERT_ROLLUPS, _rollup_rows(df)), (_UPSERT_ENTITIES, _entity_rows(df)),
                      (_UPSERT_ERRORS, _error_rows(df))):
        if rows:
            cursor.execute(sql, [project_id, _json(rows)])
