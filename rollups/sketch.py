"""Mergeable latency distributions: DDSketch's logarithmic key mapping, stored as sparse
(key, count) arrays that PostgreSQL can merge by summing counts per key.

We use the `ddsketch` package's LogarithmicMapping (rather than its whole DDSketch object)
because the bins must live in SQL rows: any number of buckets merge by adding counts, and the
mapping guarantees every quantile read from merged bins is within 1% relative error.
"""
from __future__ import annotations

import numpy as np
from ddsketch.mapping import LogarithmicMapping

RELATIVE_ACCURACY = 0.01
MAPPING = LogarithmicMapping(RELATIVE_ACCURACY)
# Values below this (including 0 ms) share the lowest key; nobody needs sub-microsecond latency.
MIN_VALUE = 1e-3


def keys_for(values: np.ndarray) -> np.ndarray:
    """Vectorised MAPPING.key(): ceil(log2(v) * multiplier)."""
    clipped = np.maximum(values.astype("float64"), MIN_VALUE)
    return np.ceil(np.log2(clipped) * MAPPING._multiplier + MAPPING._offset).astype("int32")


def value_of(key: int) -> float:
    return float(MAPPING.value(int(key)))


def quantile(keys: list[int], counts: list[int], q: float) -> float | None:
    """The q-quantile (0..1) of a merged histogram, as DDSketch reads it (rank q*(n-1))."""
    total = sum(counts)
    if total == 0:
        return None
    order = np.argsort(keys)
    ks = np.asarray(keys)[order]
    cum = np.cumsum(np.asarray(counts)[order])
    rank = q * (total - 1)
    index = int(np.searchsorted(cum, rank, side="right"))
    return value_of(int(ks[min(index, len(ks) - 1)]))
