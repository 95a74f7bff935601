"""Metrics read from rollups only: time series, summaries and top-N, for the API and dashboards.

`core` holds the query machinery and call measures, `scores` the score, flag and feedback
measures; `aggregate` answers any of them.
"""
from __future__ import annotations

from typing import Any

from rollups.selectors.core import (
    _EPOCH,
    DAY,
    DIMENSIONS,
    MetricsError,
    Query,
    _ceil,
    _floor,
    _Sql,
    aggregate_calls,
    decompose,
    distribution,
    distributions,
    parse_measure,
    top_entities,
    unit_of,
)
from rollups.selectors.scores import (
    EVALUATED_ANY,
    aggregate_feedback,
    aggregate_quality,
    evaluated_name,
    flag_totals,
    register_flag_denominator,
    score_totals,
)
from rollups.selectors.slo import aggregate_over


def aggregate(query: Query, measures: list[str]) -> dict[tuple[Any, ...], dict[str, Any]]:
    """{(point, *group values): {measure: value}} for every requested measure. Call, feedback and
    quality (score_*, or flag_*) measures are each read from their own rows: not mixed in one call."""
    kinds = {parse_measure(m)[0] for m in measures}
    if "over" in kinds:
        return _with_shares_over(query, measures, kinds)
    if "feedback" in kinds:
        if len(kinds) > 1:
            raise MetricsError("measure", "feedback measures do not mix with other measures in one request")
        return aggregate_feedback(query, measures)
    if kinds & {"score", "flag"}:
        return aggregate_quality(query, measures, kinds)
    return aggregate_calls(query, measures)


def _with_shares_over(query: Query, measures: list[str], kinds: set[str]) -> dict[tuple[Any, ...], dict[str, Any]]:
    """Share-over measures (latency_over_N: rollups/selectors/slo.py), beside call measures only."""
    if kinds - {"over", "sum", "derived", "latency", "ttft"}:
        raise MetricsError("measure", "latency_over_N and ttft_over_N mix with call measures only")
    over = [m for m in measures if parse_measure(m)[0] == "over"]
    rest = [m for m in measures if m not in over]
    out = aggregate_calls(query, rest) if rest else {}
    for key, values in aggregate_over(query, over).items():
        out.setdefault(key, {}).update(values)
    for row in out.values():  # no timed call in a group: its share is null, not missing
        for measure in over:
            row.setdefault(measure, None)
    return out


def series(query: Query, measure: str) -> list[dict[str, Any]]:
    """[{"group": {...}, "points": [{"t": datetime, "value": ...}]}], groups sorted by name."""
    values = aggregate(query, [measure])
    grouped: dict[tuple[Any, ...], list[dict[str, Any]]] = {}
    for (point, *group), measures in sorted(values.items(), key=lambda item: (item[0][1:], item[0][0])):
        grouped.setdefault(tuple(group), []).append({"t": point, "value": measures.get(measure)})
    return [{"group": dict(zip(query.group_by, group, strict=True)), "points": points} for group, points in grouped.items()]


def summary(query: Query) -> dict[str, Any]:
    quantiles = [f"{kind}_p{p}" for kind in ("latency", "ttft") for p in (50, 90, 95, 99)]
    values = aggregate(query, quantiles).get((None,), {})
    return values


__all__ = ["DAY", "DIMENSIONS", "EVALUATED_ANY", "MetricsError", "Query", "_EPOCH", "_Sql", "_ceil", "_floor",
           "aggregate", "decompose", "distribution", "distributions", "evaluated_name", "flag_totals", "parse_measure",
           "register_flag_denominator", "score_totals", "series", "summary", "top_entities", "unit_of"]
