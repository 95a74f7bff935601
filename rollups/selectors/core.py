"""The query machinery of the metrics selectors: measures, `Query`, the WHERE clause shared by every
read (`_Sql`), call measures, and quantiles and distributions from the merged histograms.

A range is cut into whole days, whole hours and minutes (see `decompose`), each answered from
its own grain, so any range merges correctly: sums add, and latency quantiles come from the
merged sparse histograms, never from averaged percentiles.
"""
from __future__ import annotations

import re
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np
import psycopg
from django.conf import settings
from django.db import connection

from rollups.aggregate import unpack
from rollups.cubes import DIMENSIONS, MODEL_CALL_KINDS, choose_cube
from rollups.signals import FEEDBACK_PREFIX
from rollups.sketch import value_of

MINUTE, HOUR, DAY = timedelta(minutes=1), timedelta(hours=1), timedelta(days=1)
GRAIN_SIZE = {"d": DAY, "h": HOUR, "m": MINUTE}
SUM_MEASURES = {
    "count": "calls", "errors": "errors", "tokens_input": "input_tokens", "tokens_output": "output_tokens",
    "tokens_cached": "cached_input_tokens", "tokens_reasoning": "reasoning_tokens", "cost": "cost_usd",
    "unpriced": "unpriced",
}
DERIVED_MEASURES = {"error_rate", "tokens_total", "latency_avg", "latency_max", "ttft_avg", "ttft_max"}
# Quality (quality/): score_* need the query's `score` name, flag_* its `flag` name.
SCORE_MEASURES = {"score_count", "score_avg"}
FLAG_MEASURES = {"flag_count", "flag_rate", "flag_evaluated"}
# End users' feedback (rollups/signals.py), by the time of the call it is about.
FEEDBACK_MEASURES = {"feedback_count", "thumbs_up", "thumbs_down", "thumbs_count", "thumbs_up_rate",
                     "thumbs_down_rate", "rating_count", "rating_avg"}
_PERCENTILE = re.compile(r"^(latency|ttft|score|rating)_p(\d{1,2}(?:\.\d{1,3})?)$")
_OVER = re.compile(r"^(latency|ttft)_over_[1-9]\d{0,6}$")
_EPOCH = datetime(2000, 1, 3, tzinfo=timezone.utc)  # a Monday: weekly bins start on Mondays


class MetricsError(ValueError):
    """A request the metrics API cannot answer; the message says why."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


def parse_measure(measure: str) -> tuple[str, float | None]:
    """('sum'|'derived'|'latency'|'ttft'|'score'|'flag'|'feedback'|'over', quantile or None)."""
    if measure in SUM_MEASURES:
        return "sum", None
    if measure in DERIVED_MEASURES:
        return "derived", None
    if measure in SCORE_MEASURES or measure in FLAG_MEASURES:
        return measure.split("_")[0], None
    if measure in FEEDBACK_MEASURES:
        return "feedback", None
    if _OVER.match(measure):  # the share of calls slower than N ms: rollups/selectors/slo.py
        return "over", None
    match = _PERCENTILE.match(measure)
    if match and 0 < float(match.group(2)) < 100:
        kind = "feedback" if match.group(1) == "rating" else match.group(1)
        return kind, float(match.group(2)) / 100
    names = sorted([*SUM_MEASURES, *DERIVED_MEASURES, *SCORE_MEASURES, *FLAG_MEASURES, *FEEDBACK_MEASURES]) + [
        "latency_pNN", "ttft_pNN", "score_pNN", "rating_pNN", "latency_over_N", "ttft_over_N"]
    raise MetricsError("measure", f"unknown measure '{measure}'; use one of {', '.join(names)}")


def unit_of(measure: str) -> str:
    if _OVER.match(measure):
        return "ratio"
    if measure.startswith(("latency", "ttft")):
        return "ms"
    if measure.endswith("_rate"):
        return "ratio"
    if measure.startswith("rating") and measure != "rating_count":
        return "rating"
    if measure.startswith("score") and measure != "score_count":
        return "score"
    if measure in FLAG_MEASURES or measure in FEEDBACK_MEASURES or measure == "score_count":
        return "count"
    return {"cost": "usd", "error_rate": "ratio"}.get(measure, "count" if not measure.startswith("tokens")
                                                      else "tokens")


@dataclass(frozen=True)
class Query:
    project_id: int
    start: datetime
    end: datetime
    filters: dict[str, list[str]] = field(default_factory=dict)
    group_by: tuple[str, ...] = ()
    interval: timedelta | None = None
    tz: str = "UTC"
    # The rollup score name for score_* measures (an evaluator's score, or "<source>:<name>" for a
    # client's: rollups/signals.py); for flag_* measures "flag:<name>".
    score: str = ""

    def __post_init__(self) -> None:
        # A prompt version belongs to its prompt: "2" of one prompt and "2" of another are different
        # versions, so grouping by version always groups by (prompt, version), in the API as on pages.
        if "prompt_version" in self.group_by and "prompt_name" not in self.group_by:
            dims = list(self.group_by)
            dims.insert(dims.index("prompt_version"), "prompt_name")
            object.__setattr__(self, "group_by", tuple(dims))

    def kinds(self) -> list[str] | None:
        """The call kinds counted: model calls unless filtered. Scores and feedback count on any
        kind (end users rate a trace's root span, often an agent): None, no condition."""
        return self.filters.get("kind") or (None if self.score else list(MODEL_CALL_KINDS))


def _floor(when: datetime, size: timedelta) -> datetime:
    return _EPOCH + ((when - _EPOCH) // size) * size


def _ceil(when: datetime, size: timedelta) -> datetime:
    floored = _floor(when, size)
    return floored if floored == when else floored + size


def decompose(start: datetime, end: datetime, *, minute_horizon: datetime) -> list[tuple[str, datetime, datetime]]:
    """Cut [start, end) into (grain, lo, hi) pieces: whole UTC days, then whole hours, then minutes.
    Edges are rounded outward to the minute, or to the hour where minute buckets have expired."""

    def cut(lo: datetime, hi: datetime, grains: str) -> list[tuple[str, datetime, datetime]]:
        if lo >= hi:
            return []
        grain, size = grains[0], GRAIN_SIZE[grains[0]]
        if grain == "m":
            lo_m, hi_m = _floor(lo, MINUTE), _ceil(hi, MINUTE)
            if lo_m < minute_horizon:
                return [("h", _floor(lo, HOUR), _ceil(hi, HOUR))]
            return [("m", lo_m, hi_m)]
        a, b = _ceil(lo, size), _floor(hi, size)
        if a < b:
            return cut(lo, a, grains[1:]) + [(grain, a, b)] + cut(b, hi, grains[1:])
        return cut(lo, hi, grains[1:])

    pieces = cut(start, end, "dhm")
    merged: list[tuple[str, datetime, datetime]] = []
    for piece in pieces:  # hour-rounded edges may now touch or overlap their neighbour: join them
        if merged and merged[-1][0] == piece[0] and merged[-1][2] >= piece[1]:
            merged[-1] = (piece[0], merged[-1][1], max(merged[-1][2], piece[2]))
        else:
            merged.append(piece)
    return merged


def _series_grain(interval: timedelta, tz: str) -> str:
    if interval % DAY == timedelta(0) and tz == "UTC":
        return "d"
    if interval % DAY == timedelta(0):
        # Local days from hour buckets. In zones with a half-hour offset a day is cut at the
        # nearest hour: minute buckets would be exact but expire after ROLLUP_MINUTE_HOURS.
        return "h"
    if interval % HOUR == timedelta(0) and _hour_aligned(tz):
        return "h"
    if interval % MINUTE == timedelta(0):
        return "m"
    raise MetricsError("interval", "interval must be a whole number of minutes")


def _hour_aligned(tz: str) -> bool:
    zone = ZoneInfo(tz)
    now = datetime.now(timezone.utc)
    return all((now + timedelta(days=d)).astimezone(zone).utcoffset() % HOUR == timedelta(0) for d in (0, 182))


class _Sql:
    """Builds the WHERE clause and point expression shared by sum and quantile queries: rows of
    query.score, or of any of `scores` (all from the cube the first one is kept in)."""

    def __init__(self, query: Query, scores: list[str] | None = None) -> None:
        self.params: dict[str, Any] = {"project": query.project_id, "kinds": query.kinds(), "tz": query.tz}
        needed = set(query.group_by) | set(query.filters) | {"kind"}
        self.params["cube"] = choose_cube(needed)
        self.params["score"] = query.score
        self.params["scores"] = scores
        conditions = ["project_id = %(project)s", "cube = %(cube)s",
                      "score = %(score)s" if scores is None else "score = ANY(%(scores)s)"]
        if self.params["kinds"] is not None:
            conditions.append("kind = ANY(%(kinds)s)")
        for dim, values in query.filters.items():
            if dim != "kind":
                self.params[f"f_{dim}"] = values
                conditions.append(f"{dim} = ANY(%(f_{dim})s)")
        horizon = datetime.now(timezone.utc) - timedelta(hours=settings.ROLLUP_MINUTE_HOURS) + MINUTE
        if self.params["cube"] == "all":
            if query.score and not query.score.startswith(FEEDBACK_PREFIX):
                raise MetricsError("filter", "scores and flags are rolled up by one dimension (model, prompt, "
                                             "feature, team, environment or status) at a time")
            # The every-dimension cube has no minute buckets (see rollups/fold.py): round to hours.
            horizon = datetime.max.replace(tzinfo=timezone.utc)
        if query.interval is None:
            pieces = decompose(query.start, query.end, minute_horizon=horizon)
            self.point = "NULL::timestamptz"
        else:
            grain = _series_grain(query.interval, query.tz)
            if grain == "m" and self.params["cube"] == "all":
                raise MetricsError("interval", "grouping or filtering by several dimensions at once needs an "
                                               "interval of whole hours (1h or more)")
            size = GRAIN_SIZE[grain]
            pieces = [(grain, _floor(query.start, size), query.end)]
            self.params["step"] = query.interval
            if query.interval == DAY:
                self.point = "date_trunc('day', bucket, %(tz)s)"
            else:
                zone = ZoneInfo(query.tz)
                self.params["origin"] = _EPOCH.replace(tzinfo=zone) if query.interval % DAY == timedelta(0) \
                    else _EPOCH
                self.point = "date_bin(%(step)s, bucket, %(origin)s)"
        ranges = []
        for i, (grain, lo, hi) in enumerate(pieces):
            self.params.update({f"g{i}": grain, f"lo{i}": lo, f"hi{i}": hi})
            ranges.append(f"(grain = %(g{i})s AND bucket >= %(lo{i})s AND bucket < %(hi{i})s)")
        conditions.append("(" + (" OR ".join(ranges) or "false") + ")")
        self.where = " AND ".join(conditions)
        self.groups = list(query.group_by)
        self.pieces = pieces


def _group_key(row: tuple[Any, ...], size: int) -> tuple[Any, ...]:
    return tuple(row[1:1 + size])


def aggregate_calls(query: Query, measures: list[str]) -> dict[tuple[Any, ...], dict[str, Any]]:
    """Call measures: {(point, *group values): {measure: value}}."""
    sql = _Sql(query)
    group_cols = "".join(f", {g}" for g in sql.groups)
    out: dict[tuple[Any, ...], dict[str, Any]] = {}
    with connection.cursor() as cur:
        cur.execute(
            f"SELECT {sql.point} AS t{group_cols}, sum(calls)::int8, sum(errors)::int8, sum(input_tokens)::int8,"
            f" sum(output_tokens)::int8, sum(cached_input_tokens)::int8, sum(reasoning_tokens)::int8, sum(cost_usd),"
            f" sum(unpriced)::int8, sum(latency_count)::int8, sum(latency_sum), max(latency_max),"
            f" sum(ttft_count)::int8, sum(ttft_sum), max(ttft_max)"
            f" FROM rollups_rollup WHERE {sql.where} GROUP BY 1{group_cols}", sql.params)
        for row in cur.fetchall():
            key = (row[0], *_group_key(row, len(sql.groups)))
            (calls, errors, tin, tout, tcached, treason, cost, unpriced, lcount, lsum, lmax, tcount, tsum,
             tmax) = row[1 + len(sql.groups):]
            out[key] = {
                "count": int(calls), "errors": int(errors), "tokens_input": int(tin), "tokens_output": int(tout),
                "tokens_cached": int(tcached), "tokens_reasoning": int(treason), "tokens_total": int(tin + tout),
                "cost": cost if cost is not None else Decimal(0), "unpriced": int(unpriced),
                "error_rate": (errors / calls) if calls else None,
                "latency_avg": (lsum / lcount) if lcount else None, "latency_max": lmax,
                "ttft_avg": (tsum / tcount) if tcount else None, "ttft_max": tmax,
            }
        wanted: dict[str, dict[str, float]] = defaultdict(dict)  # kind -> {measure: q}
        for measure in measures:
            kind, q = parse_measure(measure)
            if q is not None:
                wanted[kind][measure] = q
        for kind, by_measure in wanted.items():
            for key, values in _quantiles(cur, sql, kind, sorted(set(by_measure.values()))).items():
                for measure, q in by_measure.items():
                    out.setdefault(key, {})[measure] = values[q]
        for row in out.values():  # no timings in a group: its percentiles are null, not missing
            for by_measure in wanted.values():
                for measure in by_measure:
                    row.setdefault(measure, None)
    return out


def _quantiles(cur: Any, sql: _Sql, kind: str, qs: list[float]) -> dict[tuple[Any, ...], dict[float, float]]:
    """Quantiles per point and group from the merged key counts of every matching bucket."""
    out: dict[tuple[Any, ...], dict[float, float]] = {}
    for group, (unique, counts) in _merged(sql, kind).items():
        running = np.cumsum(counts)
        total = running[-1]
        # DDSketch's rank: the first key whose running count exceeds q * (n - 1).
        out[group] = {q: value_of(int(unique[min(int(np.searchsorted(running, q * (total - 1), side="right")),
                                                  len(unique) - 1)])) for q in qs}
    return out


def _merged(sql: _Sql, kind: str) -> dict[tuple[Any, ...], tuple[np.ndarray, np.ndarray]]:
    """{(point, *group): (ascending distinct sketch keys, their summed counts as float64)} over
    every matching bucket. The merge runs in numpy on the fetched arrays: a running sum in SQL
    window functions over the unnested keys was ~100x slower for a 30-day query."""
    group_cols = "".join(f", {g}" for g in sql.groups)
    # Binary results: the packed histograms arrive as bytes, no hex to parse.
    with psycopg.Cursor(connection.connection) as raw:
        raw.execute(f"SELECT {sql.point} AS t{group_cols}, {kind}_keys, {kind}_counts FROM rollups_rollup"
                    f" WHERE {sql.where}", sql.params, binary=True)
        rows = raw.fetchall()
    parts: dict[tuple[Any, ...], tuple[list[bytes], list[bytes]]] = defaultdict(lambda: ([], []))
    for row in rows:
        if row[-2]:
            key_bytes, count_bytes = parts[(row[0], *_group_key(row, len(sql.groups)))]
            key_bytes.append(row[-2])
            count_bytes.append(row[-1])
    out: dict[tuple[Any, ...], tuple[np.ndarray, np.ndarray]] = {}
    for group, (key_parts, count_parts) in parts.items():
        keys, counts = unpack(b"".join(key_parts), b"".join(count_parts))
        if len(key_parts) == 1:  # one stored row: its keys are already sorted and distinct
            out[group] = keys, counts.astype(np.float64)
        else:
            unique, inverse = np.unique(keys, return_inverse=True)
            out[group] = unique, np.bincount(inverse, weights=counts.astype(np.float64))
    return out


def distribution(query: Query, kind: str = "latency") -> tuple[np.ndarray, np.ndarray]:
    """The merged histogram of the whole range, ignoring interval and group_by: ascending distinct
    sketch keys and their counts (int64); `rollups.sketch.value_of(key)` is a key's value. kind:
    "latency", "ttft", or "score" (with query.score set). Charts coarsen the keys into bins."""
    if kind not in ("latency", "ttft", "score"):
        raise MetricsError("kind", f"unknown distribution '{kind}'; use latency, ttft or score")
    if kind == "score" and not query.score:
        raise MetricsError("score", "a score distribution needs score=<name>")
    whole = Query(**{**query.__dict__, "interval": None, "group_by": ()})  # one point, one group: (None,)
    merged = _merged(_Sql(whole), kind)
    if not merged:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
    keys, counts = merged[(None,)]
    kept = counts != 0  # a re-scored value folds its old bin with weight -1: cancelled bins drop out
    return keys[kept], np.rint(counts[kept]).astype(np.int64)


def distributions(query: Query, kind: str = "latency") -> dict[tuple[Any, ...], tuple[np.ndarray, np.ndarray]]:
    """`distribution` for every group of query.group_by at once, in one query: {group values: (keys,
    counts)} over the whole range (drift reads each dimension's groups this way)."""
    if kind not in ("latency", "ttft", "score"):
        raise MetricsError("kind", f"unknown distribution '{kind}'; use latency, ttft or score")
    out = {}
    for (_, *group), (keys, counts) in _merged(_Sql(Query(**{**query.__dict__, "interval": None})), kind).items():
        kept = counts != 0
        out[tuple(group)] = keys[kept], np.rint(counts[kept]).astype(np.int64)
    return out


def top_entities(*, project_id: int, entity: str, start: datetime, end: datetime, order_by: str,
                 limit: int) -> list[dict[str, Any]]:
    """Top users or sessions by cost, calls or errors over whole UTC days covering [start, end)."""
    column = {"cost": "sum(cost_usd)", "calls": "sum(calls)", "errors": "sum(errors)", "tokens": "sum(tokens)"}[order_by]
    with connection.cursor() as cur:
        cur.execute(
            f"SELECT key, sum(calls), sum(errors), sum(tokens), sum(cost_usd) FROM rollups_entityrollup"
            f" WHERE project_id = %s AND entity = %s AND bucket >= %s AND bucket < %s"
            f" GROUP BY key ORDER BY {column} DESC, key LIMIT %s",
            [project_id, entity, _floor(start, DAY), _ceil(end, DAY), limit])
        return [{"key": key, "calls": int(calls), "errors": int(errors), "tokens": int(tokens), "cost_usd": cost}
                for key, calls, errors, tokens, cost in cur.fetchall()]


__all__ = ["DIMENSIONS", "MetricsError", "Query", "aggregate_calls", "decompose", "distribution", "distributions",
           "parse_measure",
           "top_entities", "unit_of"]
