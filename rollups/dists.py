"""Per-call distributions and mixes beyond latency and TTFT, folded with the calls (rollups/fold.py)
into score rows of rollups_rollup under reserved names, so that drift (issue 15) reads them like
any score and the table needs no new columns:

- `dist:input_tokens`, `dist:output_tokens`, `dist:cost_musd` (cost per call in micro-dollars: the
  sketch's lowest bucket is 0.001, a tenth of a cent would be far below it in dollars),
  `dist:input_chars` and `dist:output_chars` (characters of the payload's text, see `CHARS_SQL`):
  score_count values, score_sum their sum, the score histogram their DDSketch bins.
- `mix:finish_reason:<reason>`: score_count (and score_sum) calls that stopped for that reason;
  the truncation rate is the `length` row over all of them. Calls with no finish reason are left out.

Only model calls (MODEL_CALL_KINDS), only hour and day buckets (drift compares whole hours) and
only the cubes drift groups by (DIST_CUBES): that keeps the extra rows to a few per group. The
selectors leave the reserved names out of score lists (rollups.selectors.scores.NOT_SCORES); the
compactor, the retention purge and rebuilds handle them as any score row.
"""
from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

import numpy as np

from rollups.aggregate import Groups, codes, group_ids, histograms
from rollups.cubes import CUBES, DIMENSIONS, MODEL_CALL_KINDS
from rollups.sketch import ZERO_KEY, keys_of

DIST_PREFIX, MIX_PREFIX = "dist:", "mix:"
FINISH_REASON_PREFIX = "mix:finish_reason:"
# Written by quality/ (its batch writer) for calls the language evaluator ran on: their input's language.
LANGUAGE_PREFIX = "mix:language:"
# Signal -> rollup score name of its distribution.
DISTS = {"input_tokens": "dist:input_tokens", "output_tokens": "dist:output_tokens", "cost": "dist:cost_musd",
         "input_chars": "dist:input_chars", "output_chars": "dist:output_chars"}
DIST_CUBES = ("total", "model", "prompt", "feature")
DIST_GRAINS = ("h", "d")
EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)  # as rollups.fold (which imports this module)


def _chars(column: str) -> str:
    """Characters of a payload's text: a string's length; for chat messages the strings under "content"
    and "text" keys (message contents and content parts); for other JSON its serialised length."""
    strings = ("(SELECT COALESCE(sum(char_length(s #>> '{}')), 0) FROM jsonb_path_query(p.%s, "
               "'strict $.**.%s ? (@.type() == \"string\")') s)")
    return (f"CASE jsonb_typeof(p.{column}) WHEN 'string' THEN char_length(p.{column} #>> '{{}}') "
            f"WHEN 'null' THEN NULL ELSE COALESCE(NULLIF({strings % (column, 'content')} + "
            f"{strings % (column, 'text')}, 0), char_length(p.{column}::text)) END")


def _reason(key: str) -> str:
    return (f"CASE jsonb_typeof(metadata->'{key}') WHEN 'array' THEN metadata->'{key}'->>0 "
            f"WHEN 'string' THEN metadata->>'{key}' END")


def _finish() -> str:
    return f"lower(left(COALESCE({_reason('finish_reasons')}, {_reason('finish_reason')}, ''), 40))"


# Extra columns of the fold's select (SELECT_CALLS joins the payload as p): input and output
# characters (-1 without a payload), the first finish reason, lower case ('' when unknown), and
# input and output tokens (-1 when not reported: the fold's own token sums count those as 0).
SELECT_EXTRA = (f", COALESCE({_chars('input')}, -1), COALESCE({_chars('output')}, -1), {_finish()},"
                " COALESCE(input_tokens, -1), COALESCE(output_tokens, -1)")
JOIN_PAYLOAD = "LEFT JOIN telemetry_callpayload p ON p.call_id = telemetry_call.id"

# The call measures of a score row, as COPY text: calls .. unpriced zero, empty latency and TTFT sketches.
_ZEROS = "\t".join(["0"] * 8 + ["0", "0.0", "\\N", "\\\\x", "\\\\x"] * 2)
COLUMNS = ("calls, errors, input_tokens, output_tokens, cached_input_tokens, reasoning_tokens, cost_usd, unpriced,"
           " latency_count, latency_sum, latency_max, latency_keys, latency_counts, ttft_count, ttft_sum, ttft_max,"
           " ttft_keys, ttft_counts, score, score_count, score_sum, score_keys, score_counts")
COPY_SQL = f"COPY rollups_rollup (project_id, grain, cube, bucket, {', '.join(DIMENSIONS)}, {COLUMNS}) FROM STDIN"
_ESCAPES = str.maketrans({"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r"})


def prepare(data: dict[str, Any], extra: list[tuple[Any, ...]]) -> None:
    """Add the batch's distribution values to the fold's columns (`data`, rollups/fold.py _batch)
    from the SELECT_EXTRA columns: {name: (keys, values, has value)} for model calls only."""
    kind = data["dims"][DIMENSIONS.index("kind")]
    model = np.isin(kind, MODEL_CALL_KINDS)
    in_chars = np.asarray(extra[0], dtype=np.float64)
    out_chars = np.asarray(extra[1], dtype=np.float64)
    values = {"input_tokens": np.asarray(extra[3], dtype=np.float64),
              "output_tokens": np.asarray(extra[4], dtype=np.float64),
              "cost": np.asarray(data["cost"].tolist(), dtype=np.float64) / 1e6,  # picodollars -> micro-dollars
              "input_chars": in_chars, "output_chars": out_chars}
    dists = {}
    for name, v in values.items():
        has = model & (v >= 0)
        if name == "cost":
            has &= ~data["unpriced"].astype(bool)
        dists[name] = (keys_of(v), v, has)
    reasons = np.asarray(extra[2], dtype=object)
    data["dists"] = dists
    data["finish"] = (codes(reasons), reasons, model & (reasons != ""))


def lines(project_id: int, grain: str, cube: str, data: dict[str, Any], gid: np.ndarray, count: int,
          first: np.ndarray, bucket_of: np.ndarray, micros: int, take: np.ndarray | None) -> list[str]:
    """COPY lines of one (grain, cube) of a batch, its groups (`gid`, `first`) already computed by the fold."""
    if grain not in DIST_GRAINS or cube not in DIST_CUBES or "dists" not in data:
        return []
    pick = (lambda a: a) if take is None else (lambda a: a[take])
    idx = {DIMENSIONS.index(d) for d in CUBES[cube]}
    dims = [pick(values)[first].tolist() if i in idx else [""] * count for i, values in enumerate(data["dims"])]
    heads = [f"{project_id}\t{grain}\t{cube}\t{(EPOCH + timedelta(microseconds=b * micros)).isoformat()}\t"
             + "\t".join(str(column[g]).translate(_ESCAPES) for column in dims) + f"\t{_ZEROS}\t"
             for g, b in enumerate(bucket_of[first].tolist())]
    out: list[str] = []
    for name, (keys, values, has) in data["dists"].items():
        has = pick(has)
        if not has.any():
            continue
        g_has = gid[has]
        n = np.bincount(g_has, minlength=count).tolist()
        sums = np.bincount(g_has, weights=pick(values)[has], minlength=count).tolist()
        hist = histograms(g_has, count, pick(keys)[has])
        score = DISTS[name]
        out.extend(f"{heads[g]}{score}\t{n[g]}\t{sums[g]!r}\t\\\\x{hist[g][0]}\t\\\\x{hist[g][1]}\n"
                   for g in range(count) if n[g])
    reason_codes, reasons, known = (pick(a) for a in data["finish"])
    if known.any():
        pair, pairs = group_ids([gid[known], reason_codes[known]])
        groups = Groups(pair, pairs)
        members = np.flatnonzero(known)[groups.first()]
        for g, reason, n in zip(gid[members].tolist(), reasons[members].tolist(), groups.size().tolist(),
                                strict=True):
            name = (FINISH_REASON_PREFIX + reason)[:120].translate(_ESCAPES)
            out.append(f"{heads[g]}{name}\t{n}\t{float(n)!r}\t\\\\x\t\\\\x\n")
    return out


# Backfill: the same rows computed in SQL for calls folded before this module existed (a range's
# call rows stay as they are). Per cube and grain: values per call, then counts per sketch key,
# then one row per group with its keys and counts packed as the fold packs them (big-endian).
_VALUES = f"""
SELECT date_trunc(%(unit)s, t.start_time, 'UTC') AS bucket, {{dims}}, d.name, d.value,
       CASE WHEN d.value > 0 THEN obs_sketch_key(GREATEST(d.value, 0.001)) ELSE {ZERO_KEY} END AS k
FROM telemetry_call t LEFT JOIN telemetry_callpayload p ON p.call_id = t.id
CROSS JOIN LATERAL (VALUES ('{DISTS["input_tokens"]}', t.input_tokens::float8),
    ('{DISTS["output_tokens"]}', t.output_tokens::float8),
    ('{DISTS["cost"]}', CASE WHEN t.cost_source <> 'unknown' THEN COALESCE(t.cost_total_usd, 0)::float8 * 1e6 END),
    ('{DISTS["input_chars"]}', ({_chars("input")})::float8),
    ('{DISTS["output_chars"]}', ({_chars("output")})::float8)) AS d(name, value)
WHERE t.project_id = %(project)s AND t.kind = ANY(%(kinds)s) AND t.start_time >= %(lo)s AND t.start_time < %(hi)s
  AND d.value >= 0 AND NOT EXISTS (SELECT 1 FROM telemetry_pendingcall q WHERE q.call_id = t.id)
"""
_FINISH = f"""
SELECT date_trunc(%(unit)s, t.start_time, 'UTC') AS bucket, {{dims}}, '{FINISH_REASON_PREFIX}' || r.reason AS name,
       count(*)::int8 AS n
FROM telemetry_call t CROSS JOIN LATERAL (SELECT {_finish()} AS reason) AS r
WHERE t.project_id = %(project)s AND t.kind = ANY(%(kinds)s) AND t.start_time >= %(lo)s AND t.start_time < %(hi)s
  AND r.reason <> '' AND NOT EXISTS (SELECT 1 FROM telemetry_pendingcall q WHERE q.call_id = t.id)
GROUP BY {", ".join(str(i) for i in range(1, len(DIMENSIONS) + 3))}
"""
_ZERO_COLUMNS = ("0, 0, 0, 0, 0, 0, 0, 0, 0, 0, NULL, ''::bytea, ''::bytea, 0, 0, NULL, ''::bytea, ''::bytea")
_INSERT = f"INSERT INTO rollups_rollup (project_id, grain, cube, bucket, {', '.join(DIMENSIONS)}, {COLUMNS}, compacted)"


def backfill(cursor: Any, project_id: int, start: datetime, end: datetime) -> int:
    """Replace the distribution and mix rows of [start, end) (whole UTC days) with ones computed from
    the processed calls there, in SQL, leaving every other rollup row alone: for ranges folded before
    these rows existed, much cheaper than rebuilding the range. Returns the rows written."""
    lo = start.astimezone(timezone.utc).replace(hour=0, minute=0, second=0, microsecond=0)
    hi = end.astimezone(timezone.utc).replace(hour=0, minute=0, second=0, microsecond=0) + timedelta(days=1)
    from rollups.fold import LOCK_NAMESPACE

    cursor.execute("SELECT pg_advisory_xact_lock(%s, %s)", [LOCK_NAMESPACE, project_id])
    cursor.execute("DELETE FROM rollups_rollup WHERE project_id = %s AND bucket >= %s AND bucket < %s"
                   " AND (score LIKE 'dist:%%' OR score LIKE 'mix:finish^_reason:%%' ESCAPE '^')", [project_id, lo, hi])
    written = 0
    for grain, unit in (("h", "hour"), ("d", "day")):
        for cube in DIST_CUBES:
            dims = ", ".join(f"COALESCE(t.{d}, '') AS {d}" if d in CUBES[cube] else f"''::text AS {d}"
                             for d in DIMENSIONS)
            groups = ", ".join(DIMENSIONS)
            params = {"project": project_id, "unit": unit, "kinds": list(MODEL_CALL_KINDS), "lo": lo, "hi": hi,
                      "grain": grain, "cube": cube}
            cursor.execute(
                f"{_INSERT} SELECT %(project)s, %(grain)s, %(cube)s, bucket, {groups}, {_ZERO_COLUMNS}, name,"
                f" sum(n)::int8, sum(s), string_agg(int4send(k), ''::bytea ORDER BY k),"
                f" string_agg(int8send(n), ''::bytea ORDER BY k), true"
                f" FROM (SELECT bucket, {groups}, name, k, count(*)::int8 AS n, sum(value) AS s"
                f" FROM ({_VALUES.replace('{dims}', dims)}) v GROUP BY bucket, {groups}, name, k) b"
                f" GROUP BY bucket, {groups}, name", params)
            written += cursor.rowcount
            cursor.execute(
                f"{_INSERT} SELECT %(project)s, %(grain)s, %(cube)s, bucket, {groups}, {_ZERO_COLUMNS}, name, n,"
                f" n::float8, ''::bytea, ''::bytea, true FROM ({_FINISH.replace('{dims}', dims)}) f", params)
            written += cursor.rowcount
    return written


def copy_lines(cursor: Any, rows: list[str]) -> None:
    if rows:
        with getattr(cursor, "cursor", cursor).copy(COPY_SQL) as copy:
            copy.write("".join(rows))
