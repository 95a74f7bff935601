"""Fold evaluated scores and flags into the rollups: one more dimension (the score name) and one
more histogram (its values), appended as parts like the call fold (rollups/fold.py) and merged
by the same compactor. A re-scored call first folds its old values with weight -1, so figures
never count a call twice."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

import numpy as np
from django.conf import settings

from rollups.aggregate import Groups, codes, group_ids, histograms
from rollups.cubes import CUBES, DIMENSIONS
from rollups.fold import EPOCH, GRAIN_MICROS
from rollups.sketch import keys_of

# The call measures of a score part, as COPY text: calls .. unpriced, the latency and TTFT
# sketches empty (count 0, sum 0, max NULL, empty keys and counts).
_ZEROS_LINE = "\t".join(["0"] * 6 + ["0"] + ["0"] + ["0", "0.0", "\\N", "\\\\x", "\\\\x"] * 2)
_ESCAPES = str.maketrans({"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r"})


def _esc(text: str) -> str:
    return text.translate(_ESCAPES)
COPY_SQL = (
    f"COPY rollups_rollup (project_id, grain, cube, bucket, {', '.join(DIMENSIONS)}, calls, errors, input_tokens,"
    " output_tokens, cached_input_tokens, reasoning_tokens, cost_usd, unpriced, latency_count, latency_sum,"
    " latency_max, latency_keys, latency_counts, ttft_count, ttft_sum, ttft_max, ttft_keys, ttft_counts,"
    " score, score_count, score_sum, score_keys, score_counts, score_sumsq) FROM STDIN"
)
# Scores are rolled up by one dimension at a time: with the score name, the every-dimension
# cube would hold nearly a row per scored call.
SCORE_CUBES = {name: dims for name, dims in CUBES.items() if name != "all"}


def score_parts(project_id: int, entries: list[tuple[tuple[str, ...], int, str, float, int]],
                minute_horizon: datetime) -> list[str]:
    """Rollup parts, as COPY lines, for (call dimension values, start in epoch µs, score name,
    value, weight ±1). Lines are encoded here: 18 of a part's 28 columns are the call measures'
    zeros, encoded once (_ZEROS_LINE), which made the fold several times cheaper than encoding
    every field of every part."""
    if not entries:
        return []
    dims = [np.asarray(column, dtype=object) for column in zip(*(e[0] for e in entries), strict=True)]
    start_us = np.asarray([e[1] for e in entries], dtype=np.int64)
    names = np.asarray([e[2] for e in entries], dtype=object)
    values = np.asarray([max(e[3], 0.0) for e in entries], dtype=np.float64)
    weights = np.asarray([e[4] for e in entries], dtype=np.int64)
    keys = keys_of(values)
    dim_codes, name_codes = [codes(d) for d in dims], codes(names)
    escaped: dict[Any, str] = {}  # each distinct value escaped once, when a part first needs it

    def text(value: Any) -> str:
        found = escaped.get(value)
        if found is None:
            found = escaped[value] = _esc(str(value))
        return found

    recent = start_us >= int(minute_horizon.timestamp() * 1_000_000)
    prefix = f"{project_id}\t"
    out: list[str] = []
    for grain, micros in GRAIN_MICROS.items():
        take = np.flatnonzero(recent) if grain == "m" else np.arange(len(entries))
        if not len(take):
            continue
        bucket_of = start_us[take] // micros
        for cube, cube_dims in SCORE_CUBES.items():
            idx = [DIMENSIONS.index(d) for d in cube_dims]
            gid, count = group_ids([codes(bucket_of), name_codes[take], *(dim_codes[i][take] for i in idx)])
            groups = Groups(gid, count)
            first = take[groups.first()]
            counts = groups.sum(weights[take]).tolist()
            sums = groups.sum(values[take] * weights[take]).tolist()
            squares = groups.sum(values[take] ** 2 * weights[take]).tolist()  # a mean's variance (prompts)
            hist = histograms(gid, count, keys[take], weights[take].astype(np.float64))
            buckets = [(EPOCH + timedelta(microseconds=b * micros)).isoformat()
                       for b in (start_us[first] // micros).tolist()]
            dim_text = ["\t".join(text(dims[i][f]) if i in idx else "" for i in range(len(DIMENSIONS)))
                        for f in first.tolist()]
            head = f"{prefix}{grain}\t{cube}\t"
            out.extend(f"{head}{buckets[g]}\t{dim_text[g]}\t{_ZEROS_LINE}\t{text(names[first[g]])}\t"
                       f"{counts[g]}\t{sums[g]!r}\t\\\\x{hist[g][0]}\t\\\\x{hist[g][1]}\t{squares[g]!r}\n" for g in range(count))
    return out


def scores_fold(cursor: Any, project_id: int, entries: list[tuple[tuple[str, ...], int, str, float, int]],
                minute_horizon: datetime | None = None) -> None:
    horizon = minute_horizon or datetime.now(timezone.utc) - timedelta(hours=settings.ROLLUP_MINUTE_HOURS)
    lines = score_parts(project_id, entries, horizon)
    if lines:
        with getattr(cursor, "cursor", cursor).copy(COPY_SQL) as copy:
            copy.write("".join(lines))
