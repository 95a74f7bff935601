"""Score, flag and feedback measures: read from the rows of one rollup score name (or a few) with the
WHERE clause of call measures (core._Sql). Flag rates divide by the calls the flag's evaluator
actually evaluated, so sampling does not understate them; feedback counts by its call's time.

Rollup score names (written by quality/ and rollups/signals.py): an evaluator's score under its
own name; `flag:<name>` (1 per flagged call); `evaluated:*` (1 per call at least one evaluator
evaluated) and other `evaluated:...` counts; `<source>:<name>` for client scores; `feedback:count`,
`feedback:thumbs` (1 up, 0 down) and `feedback:rating`.
"""
from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from dataclasses import replace
from typing import Any

from django.db import connection

from rollups.selectors.core import (
    MetricsError,
    Query,
    _group_key,
    _merged,
    _quantiles,
    _Sql,
    aggregate_calls,
    parse_measure,
)
from rollups.signals import FEEDBACK_COUNT, FEEDBACK_RATING, FEEDBACK_THUMBS

EVALUATED_ANY = "evaluated:*"
# Rollup score names that are not scores to show or choose: flags, evaluated counts, feedback.
# "dist:" and "mix:" are the per-call distributions and mixes of rollups/dists.py.
NOT_SCORES = ("flag:", "evaluated:", "feedback:", "dist:", "mix:")

_FLAG_DENOMINATORS: list[Callable[[str], str]] = []


def register_flag_denominator(denominator_of: Callable[[str], str]) -> None:
    """Let another app name, for a flag, the rollup score counting the calls evaluated for it: the
    calls the flag's evaluator ran on ("" when the app does not know the flag). quality registers
    its answer in AppConfig.ready(): rollups never imports quality."""
    if denominator_of not in _FLAG_DENOMINATORS:
        _FLAG_DENOMINATORS.append(denominator_of)


def evaluated_name(flag: str) -> str:
    """The rollup score whose count is `flag`'s rate denominator: what a registered app says, else
    every evaluated call (`evaluated:*`)."""
    return next((name for denominator_of in _FLAG_DENOMINATORS if (name := denominator_of(flag))), EVALUATED_ANY)


def _sums(sql: _Sql) -> dict[str, dict[tuple[Any, ...], tuple[int, float]]]:
    """{score name: {(point, *group): (count, sum)}} over the rows `sql` selects."""
    group_cols = "".join(f", {g}" for g in sql.groups)
    out: dict[str, dict[tuple[Any, ...], tuple[int, float]]] = defaultdict(dict)
    with connection.cursor() as cur:
        cur.execute(f"SELECT {sql.point} AS t{group_cols}, score, sum(score_count)::int8, sum(score_sum)"
                    f" FROM rollups_rollup WHERE {sql.where} GROUP BY 1{group_cols}, score", sql.params)
        for row in cur.fetchall():
            name, count, total = row[1 + len(sql.groups):]
            if count or total:
                out[name][(row[0], *_group_key(row, len(sql.groups)))] = (int(count), float(total))
    return out


def _with_quantiles(out: dict[tuple[Any, ...], dict[str, Any]], sql: _Sql, measures: list[str]) -> None:
    """Add the requested percentile measures (from the histogram of the rows `sql` selects)."""
    wanted = {m: q for m in measures for _, q in [parse_measure(m)] if q is not None}
    if not wanted:
        return
    with connection.cursor() as cur:
        for key, values in _quantiles(cur, sql, "score", sorted(set(wanted.values()))).items():
            for measure, q in wanted.items():
                out.setdefault(key, {})[measure] = values[q]


def _nulls(out: dict[tuple[Any, ...], dict[str, Any]], measures: list[str]) -> dict[tuple[Any, ...], dict[str, Any]]:
    for row in out.values():
        for measure in measures:
            row.setdefault(measure, None)
    return out


def aggregate_quality(query: Query, measures: list[str], kinds: set[str]) -> dict[tuple[Any, ...], dict[str, Any]]:
    """Score and flag measures: from the rows of one score (or flag) name; flag_rate divides by the
    flag's evaluated calls (see evaluated_name), or, in a range where none were counted at all
    (data folded before evaluated counts existed), by the model calls of the same buckets."""
    if len(kinds) > 1 or not query.score:
        raise MetricsError("measure", "score_* measures need score=<name>, flag_* measures need flag=<name>, "
                                      "and neither mixes with other measures in one request")
    sql = _Sql(query)
    out: dict[tuple[Any, ...], dict[str, Any]] = {
        key: {"score_count": count, "score_avg": total / count if count else None, "flag_count": count}
        for key, (count, total) in _sums(sql).get(query.score, {}).items()}
    _with_quantiles(out, sql, measures)
    if {"flag_rate", "flag_evaluated"} & set(measures):
        name = evaluated_name(query.score.removeprefix("flag:"))
        evaluated = {key: count for key, (count, _) in _sums(_Sql(replace(query, score=name))).get(name, {}).items()}
        if not evaluated:  # nothing counted in the whole range: it was folded before evaluated counts
            evaluated = {key: row["count"] for key, row in aggregate_calls(replace(query, score=""), ["count"]).items()}
        for key in set(out) | set(evaluated):
            denominator = evaluated.get(key, 0)
            row = out.setdefault(key, {"flag_count": 0})
            row["flag_evaluated"] = denominator
            row["flag_rate"] = row["flag_count"] / denominator if denominator else None
    return _nulls(out, measures)


def aggregate_feedback(query: Query, measures: list[str]) -> dict[tuple[Any, ...], dict[str, Any]]:
    """End-user feedback measures from the feedback rollups (rollups/signals.py), by call time.
    Feedback is kept in every cube, so any combination of filters works (whole hours past two)."""
    sql = _Sql(replace(query, score=FEEDBACK_THUMBS), scores=[FEEDBACK_COUNT, FEEDBACK_THUMBS, FEEDBACK_RATING])
    sums = _sums(sql)
    out: dict[tuple[Any, ...], dict[str, Any]] = {}
    for key in set().union(*(sums[name] for name in (FEEDBACK_COUNT, FEEDBACK_THUMBS, FEEDBACK_RATING))):
        given = sums[FEEDBACK_COUNT].get(key, (0, 0.0))[0]
        rated, ups = sums[FEEDBACK_THUMBS].get(key, (0, 0.0))
        ratings, total = sums[FEEDBACK_RATING].get(key, (0, 0.0))
        up = round(ups)  # a sum of ones and zeros
        out[key] = {"feedback_count": given, "thumbs_count": rated, "thumbs_up": up, "thumbs_down": rated - up,
                    "thumbs_up_rate": up / rated if rated else None,
                    "thumbs_down_rate": (rated - up) / rated if rated else None,
                    "rating_count": ratings, "rating_avg": total / ratings if ratings else None}
    _with_quantiles(out, _Sql(replace(query, score=FEEDBACK_RATING)), measures)
    return _nulls(out, measures)


def score_totals(query: Query, *, prefix: str = "") -> dict[str, dict[str, Any]]:
    """Every score (or, with a prefix such as "flag:", every name with it) seen in the range:
    {name: {"count", "avg", "sum", "sumsq"}} (the sum of squares gives a variance: prompts' tests).
    Without a prefix, flags, evaluated counts and feedback are left out;
    client scores are listed by their rollup names (`human:helpfulness`). Same buckets and cube
    choice as `aggregate`; the score name is grouped instead of fixed."""
    sql = _Sql(replace(query, score=prefix or "-"))
    where = sql.where.replace("score = %(score)s", "score LIKE %(score_like)s AND score <> ''")
    sql.params["score_like"] = prefix.replace("%", r"\%").replace("_", r"\_") + "%"
    with connection.cursor() as cur:
        cur.execute(f"SELECT score, sum(score_count)::int8, sum(score_sum), sum(score_sumsq) FROM rollups_rollup"
                    f" WHERE {where} GROUP BY score", sql.params)
        rows = cur.fetchall()
    return {name: {"count": int(count), "avg": (total / count) if count else None, "sum": float(total),
                   "sumsq": float(squares)}
            for name, count, total, squares in rows if count and (prefix or not name.startswith(NOT_SCORES))}


def cost_moments(query: Query) -> dict[tuple[Any, ...], dict[str, Any]]:
    """{(point, *group): {"count", "cost", "cost_sumsq"}} of the calls `query` selects: cost per
    call's mean and variance (prompts' Welch test). cost_sumsq is 0 for calls folded before
    rollups migration 0011."""
    sql = _Sql(replace(query, score=""))
    group_cols = "".join(f", {g}" for g in sql.groups)
    with connection.cursor() as cur:
        cur.execute(f"SELECT {sql.point} AS t{group_cols}, sum(calls)::int8, sum(cost_usd), sum(cost_sumsq)"
                    f" FROM rollups_rollup WHERE {sql.where} GROUP BY 1{group_cols}", sql.params)
        return {(row[0], *_group_key(row, len(sql.groups))): {"count": int(row[-3]), "cost": float(row[-2] or 0),
                                                              "cost_sumsq": float(row[-1] or 0)}
                for row in cur.fetchall()}


def histograms_of(query: Query, kind: str = "latency") -> dict[tuple[Any, ...], tuple[Any, Any]]:
    """{(point, *group): (ascending values, their counts)}: the merged sketch of `kind` (latency,
    ttft) per group, for callers that need more than a quantile (prompts' quantile intervals)."""
    from rollups.sketch import value_of

    if kind not in ("latency", "ttft"):
        raise MetricsError("measure", "histograms of latency or ttft")
    out = {}
    for key, (keys, counts) in _merged(_Sql(replace(query, score="")), kind).items():
        out[key] = ([value_of(int(k)) for k in keys.tolist()], counts)
    return out


def flag_totals(query: Query) -> dict[str, dict[str, Any]]:
    """Every flag raised in the range: {flag name: {"count", "evaluated", "rate"}}, `evaluated`
    being what the rate divides by (as aggregate's flag_evaluated, over the whole range)."""
    flags = {name.removeprefix("flag:"): row["count"] for name, row in score_totals(query, prefix="flag:").items()}
    if not flags:
        return {}
    names = {flag: evaluated_name(flag) for flag in flags}
    whole = replace(query, interval=None, group_by=())
    counted = {name: rows[(None,)][0] for name, rows in
               _sums(_Sql(replace(whole, score=EVALUATED_ANY), scores=sorted(set(names.values())))).items()}
    calls: int | None = None
    out = {}
    for flag, count in flags.items():
        evaluated = counted.get(names[flag], 0)
        if not evaluated:
            if calls is None:
                calls = aggregate_calls(replace(whole, score=""), ["count"]).get((None,), {}).get("count", 0)
            evaluated = calls
        out[flag] = {"count": count, "evaluated": evaluated, "rate": count / evaluated if evaluated else None}
    return out
