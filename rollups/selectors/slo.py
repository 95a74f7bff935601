"""Latency SLOs from the rollups' sketches: the share of calls slower than a latency, per group and
point ("99% of calls under 2 s" holds while `latency_over_2000` stays at or under 1%).

The share is read from the same merged histograms as the percentiles, so it agrees with them: a
bin counts as over the latency when its value (what `latency_pNN` would report for it) is. Calls
within the sketch's 1% accuracy of the latency can fall on either side.
"""
from __future__ import annotations

import re
from functools import lru_cache
from typing import Any

import numpy as np

from rollups.selectors.core import MetricsError, Query, _merged, _Sql
from rollups.sketch import MAPPING, value_of

# latency_over_2000: the share of calls slower than 2,000 ms; ttft_over_500 for time to first token.
OVER_MEASURE = re.compile(r"^(latency|ttft)_over_([1-9]\d{0,6})$")


def parse_over(measure: str) -> tuple[str, float] | None:
    """("latency" | "ttft", milliseconds) of a share-over measure, None for any other measure."""
    match = OVER_MEASURE.match(measure)
    return None if match is None else (match.group(1), float(match.group(2)))


@lru_cache(maxsize=256)
def first_key_over(threshold_ms: float) -> int:
    """The lowest sketch key whose value is above `threshold_ms` (keys are ascending in value)."""
    key = int(MAPPING.key(threshold_ms))
    while value_of(key) > threshold_ms:
        key -= 1
    while value_of(key) <= threshold_ms:
        key += 1
    return key


def shares_over(query: Query, kind: str, threshold_ms: float) -> dict[tuple[Any, ...], tuple[float, float]]:
    """{(point, *group values): (calls over threshold_ms, calls timed)} from the merged sketches of
    every matching bucket; groups without a timed call are absent."""
    if kind not in ("latency", "ttft"):
        raise MetricsError("measure", f"unknown timing '{kind}'; use latency or ttft")
    first = first_key_over(threshold_ms)
    out: dict[tuple[Any, ...], tuple[float, float]] = {}
    for group, (keys, counts) in _merged(_Sql(query), kind).items():
        total = float(counts.sum())
        if total > 0:
            # keys are ascending: the calls over the latency are a suffix of the histogram
            out[group] = float(counts[int(np.searchsorted(keys, first)):].sum()), total
    return out


def aggregate_over(query: Query, measures: list[str]) -> dict[tuple[Any, ...], dict[str, float]]:
    """{(point, *group values): {measure: share}} for share-over measures (latency_over_N, ttft_over_N)."""
    out: dict[tuple[Any, ...], dict[str, float]] = {}
    for measure in measures:
        parsed = parse_over(measure)
        if parsed is None:
            raise MetricsError("measure", f"'{measure}' is not a share-over measure")
        for group, (over, total) in shares_over(query, *parsed).items():
            out.setdefault(group, {})[measure] = over / total
    return out


__all__ = ["OVER_MEASURE", "aggregate_over", "first_key_over", "parse_over", "shares_over"]
