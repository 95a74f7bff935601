"""Vectorised building blocks of the fold and the compactor: dense group ids for combinations of
columns, per-group sums and maxima, and sparse latency histograms merged per group.

numpy, not SQL: grouping a batch by 23 (grain, cube) combinations and merging histograms in
PostgreSQL cost about 1.3 µs per histogram bin (unnest, sort, re-aggregate) plus a function call
per row; here the same work is a few array passes.
"""
from __future__ import annotations

import itertools
from collections.abc import Sequence
from typing import Any

import numpy as np

# Sketch keys (rollups/sketch.py) run from about -350 (1 µs) to about 1,400 (10^12 ms); this
# offset and span pack a (group, key) pair into one int64 for a single sort.
HIST_OFFSET = 1 << 12
HIST_SPAN = 1 << 13


def codes(values: Sequence[Any] | np.ndarray) -> np.ndarray:
    """Dense int64 codes of hashable values (strings, ints), in order of first appearance."""
    import pandas as pd  # here, not at the top: web and beat import this module, only folds factorize

    array = values if isinstance(values, np.ndarray) else np.asarray(values, dtype=object)
    return pd.factorize(array)[0].astype(np.int64)


def group_ids(columns: list[np.ndarray]) -> tuple[np.ndarray, int]:
    """Dense ids 0..n-1 of the distinct combinations of the given code columns (all the same length).
    Re-factorised after each column, so the packed code never overflows however many columns."""
    import pandas as pd

    code = np.zeros(len(columns[0]), dtype=np.int64)
    for column in columns:
        code = code * (int(column.max()) + 1) + column if len(column) else code
        code, uniques = pd.factorize(code)
        code = code.astype(np.int64)
    return code, int(code.max()) + 1 if len(code) else 0


class Groups:
    """A grouping of n rows: sums, maxima and first members per group."""

    def __init__(self, gid: np.ndarray, count: int) -> None:
        self.gid, self.count = gid, count
        self.order = np.argsort(gid, kind="stable")
        self.starts = np.searchsorted(gid[self.order], np.arange(count))

    def first(self) -> np.ndarray:
        """Index of one member row of each group (to read the group's dimension values from)."""
        return self.order[self.starts]

    def size(self) -> np.ndarray:
        return np.bincount(self.gid, minlength=self.count)

    def sum(self, values: np.ndarray) -> np.ndarray:
        """Exact for integers: int64 values are summed as int64, not through float weights."""
        if values.dtype.kind in "iub":
            return np.add.reduceat(values.astype(np.int64)[self.order], self.starts) if self.count else values[:0]
        if values.dtype == object:  # Python ints (cost in picodollars): exact at any magnitude
            return np.add.reduceat(values[self.order], self.starts) if self.count else values[:0]
        return np.bincount(self.gid, weights=values, minlength=self.count)

    def max(self, values: np.ndarray) -> np.ndarray:
        """Float maxima ignoring NaN (missing values); NaN where a group has none."""
        if not self.count:
            return values[:0]
        with np.errstate(invalid="ignore"):
            return np.fmax.reduceat(values[self.order], self.starts)



class Hex(str):
    """Hex digits of a bytea value (rollups/copyrows.py writes it as \\x...)."""


KEY_DTYPE, COUNT_DTYPE = np.dtype(">i4"), np.dtype(">i8")  # see Rollup.latency_keys


def unpack(keys: bytes, counts: bytes) -> tuple[np.ndarray, np.ndarray]:
    return np.frombuffer(keys, KEY_DTYPE).astype(np.int64), np.frombuffer(counts, COUNT_DTYPE).astype(np.int64)


def histograms(gid: np.ndarray, count: int, keys: np.ndarray,
               weights: np.ndarray | None = None) -> list[tuple[Hex, Hex]]:
    """For each of `count` groups, its sorted distinct sketch keys and their summed weights (1 per
    row when no weights), packed as Rollup stores them. Only rows that have a value are passed in;
    a group may have none."""
    packed = gid.astype(np.int64) * HIST_SPAN + (keys.astype(np.int64) + HIST_OFFSET)
    if weights is None:
        uniq, counts = np.unique(packed, return_counts=True)
    else:
        uniq, inverse = np.unique(packed, return_inverse=True)
        counts = np.bincount(inverse, weights=weights, minlength=len(uniq))
        kept = counts != 0  # a re-scored value folded with weight -1 cancels its old bin
        uniq, counts = uniq[kept], counts[kept]
    owner = uniq // HIST_SPAN
    bounds = np.searchsorted(owner, np.arange(count + 1)).tolist()
    # One conversion for all groups, then string slices: 8 hex digits per key, 16 per count.
    bins = (uniq % HIST_SPAN - HIST_OFFSET).astype(KEY_DTYPE).tobytes().hex()
    totals = counts.astype(COUNT_DTYPE).tobytes().hex()
    return [(Hex(bins[lo * 8:hi * 8]), Hex(totals[lo * 16:hi * 16])) for lo, hi in itertools.pairwise(bounds)]
