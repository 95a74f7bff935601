"""Mergeable latency distributions: DDSketch's logarithmic key mapping, stored as sparse
(key, count) arrays that PostgreSQL can merge by summing counts per key. The same mapping is
frozen in SQL as obs_sketch_key (rollups/migrations/0003); quantiles are read in SQL by
rollups/selectors.py and turned back into milliseconds here.

We use the `ddsketch` package's LogarithmicMapping (rather than its whole DDSketch object)
because the bins must live in SQL rows: any number of buckets merge by adding counts, and the
mapping guarantees every quantile read from merged bins is within 1% relative error.
"""
from __future__ import annotations

from ddsketch.mapping import LogarithmicMapping

RELATIVE_ACCURACY = 0.01
MAPPING = LogarithmicMapping(RELATIVE_ACCURACY)
# Values below this (including 0 ms) share the lowest key; nobody needs sub-microsecond latency.
MIN_VALUE = 1e-3


def value_of(key: int) -> float:
    return float(MAPPING.value(int(key)))
