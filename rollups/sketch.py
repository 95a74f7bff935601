"""Mergeable latency distributions: DDSketch's logarithmic key mapping, stored as sparse
(key, count) arrays that PostgreSQL can merge by summing counts per key. The same mapping is
frozen in SQL as obs_sketch_key (rollups/migrations/0003); quantiles are read in SQL by
rollups/selectors.py and turned back into milliseconds here.

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


# Score values (quality/) are often exactly 0 (no refusal, no PII): they get a key of their own,
# read back as 0, instead of DDSketch's lowest bin. Negative scores are counted as 0.
ZERO_KEY = -4095
# obs_sketch_key's formula (migration 0003), vectorised: ceil(log2(v) * 1 / log2(gamma)).
_MULTIPLIER = 34.65620375188817


def value_of(key: int) -> float:
    return 0.0 if key <= ZERO_KEY else float(MAPPING.value(int(key)))


def keys_of(values: np.ndarray) -> np.ndarray:
    """Sketch keys of score values, the same mapping as obs_sketch_key, with 0 (and below) at ZERO_KEY."""
    with np.errstate(divide="ignore"):
        keys = np.ceil(np.log2(np.maximum(values, MIN_VALUE)) * _MULTIPLIER).astype(np.int64)
    return np.where(values > 0, keys, ZERO_KEY)
