"""Chart builders: rows the rollup selectors already aggregated in, a Plotly figure out.

Figures are plain dicts in plotly.js's figure format rather than `plotly.graph_objects`: building
and validating a graph_objects figure costs ~17 ms each here (measured), a page draws four or
five, and pages must render in under 300 ms. The tests pass every builder's output through
`plotly.graph_objects.Figure` so the dicts stay valid Plotly. Colours for light and dark mode
are applied in the browser (static/dashboards/app.js), so a figure does not depend on the theme.
"""
from __future__ import annotations

import bisect
import math
from collections.abc import Sequence
from datetime import datetime
from decimal import Decimal
from typing import Any

from django.utils import timezone

# Axis formats per unit (d3-format strings, as plotly.js expects).
_AXIS: dict[str, dict[str, Any]] = {
    # Three significant digits: a fixed count of decimals reads "$0" under a hundredth of a cent.
    "usd": {"tickprefix": "$", "tickformat": ",.3~r"},
    "ms": {"ticksuffix": " ms", "tickformat": ",.0f"},
    "ratio": {"tickformat": ".1%"},
    "count": {"tickformat": "~s"},
    "tokens": {"tickformat": "~s"},
    "score": {"tickformat": ".2f"},
}
_HOVER: dict[str, str] = {
    "ratio": "%{y:.2%}", "count": "%{y:,}", "tokens": "%{y:,}", "score": "%{y:.3f}",  # usd, ms: _hover
}
_TITLE_UNIT = {"usd": "USD", "ms": "ms", "ratio": "%", "count": "calls", "tokens": "tokens", "score": "score"}
# Durations follow the tiles' rule (dashboards.templatetags.obs.duration): ms below a second, s
# below a minute, min above. An axis takes the unit of its largest value; each hover names its own.
_DURATION_AXES = [(60_000.0, "min"), (1_000.0, "s"), (1.0, "ms")]


def _duration_scale(values: Sequence[Any]) -> tuple[float, str]:
    """The divisor and unit of a duration axis: the tile rule applied to the axis's largest value."""
    largest = max((abs(v) for v in values if isinstance(v, (int, float))), default=0.0)
    return next(((d, u) for d, u in _DURATION_AXES if largest >= d), (1.0, "ms"))


def _hover(unit: str, values: list[Any], axis: str = "y") -> tuple[list[str] | None, str]:
    """(customdata, value template) of a trace. Costs and durations are pre-formatted here by the
    same filters as the tiles and tables (d3-format has no "two significant digits below $1" nor
    a unit that changes with the value): plotly.js would show $0.000012 as "$0.000012" or "$0"."""
    from dashboards.templatetags.obs import duration, usd

    formatter = {"usd": usd, "ms": duration}.get(unit)
    if formatter is None:
        return None, _HOVER.get(unit, "%{y}").replace("%{y", f"%{{{axis}")
    return [formatter(v) for v in values], "%{customdata}"


def _num(value: Any) -> float | None:
    if value is None:
        return None
    return float(value) if isinstance(value, (Decimal, int, float)) else value


def _iso(when: Any) -> Any:
    """Wall-clock time in the viewer's zone (activated per request by dashboards.middleware):
    plotly.js drops UTC offsets and would label the axis in UTC."""
    if not isinstance(when, datetime):
        return when
    if when.tzinfo is not None:
        when = timezone.localtime(when)
    return when.replace(tzinfo=None).isoformat()


def _layout(title: str, *, y_unit: str, x_title: str = "", y_title: str = "", barmode: str | None = None,
            horizontal: bool = False, duration_unit: str = "ms") -> dict[str, Any]:
    axis_format = _AXIS.get(y_unit, {})
    unit_title = _TITLE_UNIT.get(y_unit, y_unit)
    if y_unit == "ms" and duration_unit != "ms":  # values already divided by _duration_scale
        axis_format = {"ticksuffix": f" {duration_unit}", "tickformat": ",.3~f"}
        unit_title, y_title = duration_unit, y_title.replace("(ms)", f"({duration_unit})")
    value_axis = {"title": {"text": y_title or unit_title}, "rangemode": "tozero",
                  "automargin": True, **axis_format}
    # Dimension values are names even when they look like numbers (prompt versions "1".."5"):
    # a linear axis would space them as numbers and label only some.
    category_axis: dict[str, Any] = {"type": "category", **({"title": {"text": x_title}} if x_title else {})}
    layout: dict[str, Any] = {
        "title": {"text": title, "x": 0, "xanchor": "left", "font": {"size": 14}},
        "xaxis": value_axis if horizontal else category_axis,
        "yaxis": {**category_axis, "automargin": True} if horizontal else value_axis,
        "legend": {"orientation": "h", "y": -0.2},
        "margin": {"l": 56, "r": 16, "t": 40, "b": 40},
        "hovermode": "closest" if horizontal else "x unified",
        "height": 300,
    }
    if barmode:
        layout["barmode"] = barmode
    return layout


def _whole_ticks(axis: dict[str, Any], unit: str, values: list[Any]) -> None:
    """Counts are whole: with a largest value under 5 plotly.js would tick 0.2, 0.4, ... ("200m
    calls"); tick every whole number instead."""
    if unit in ("count", "tokens") and max((v for v in values if isinstance(v, (int, float))), default=0) < 5:
        axis.update(tick0=0, dtick=1)


def _isolated(numbers: list[Any]) -> list[bool]:
    """Points with no value on either side: a line through them draws nothing."""
    present = [v is not None for v in numbers]
    return [here and not (i > 0 and present[i - 1]) and not (i + 1 < len(present) and present[i + 1])
            for i, here in enumerate(present)]


def time_series(title: str, series: list[dict[str, Any]], *, unit: str, stacked: bool = False,
                bars: bool = False, y_title: str = "") -> dict[str, Any]:
    """series: [{"name": str, "points": [{"t": datetime, "value": number|None}]}], one trace each.
    Durations (unit "ms") are drawn in ms, s or min after the largest value, as the tiles are."""
    values = {id(item): [_num(p["value"]) for p in item["points"]] for item in series}
    divisor, duration_unit = _duration_scale([v for vs in values.values() for v in vs]) if unit == "ms" else (1.0, "")
    traces = []
    for item in series:
        numbers = values[id(item)]
        customdata, hover = _hover(unit, numbers)
        trace: dict[str, Any] = {
            "type": "bar" if bars else "scatter", "name": item["name"] or "(none)",
            "x": [_iso(p["t"]) for p in item["points"]],
            "y": [v / divisor if isinstance(v, float) and divisor != 1 else v for v in numbers],
            "hovertemplate": f"%{{fullData.name}}: {hover}<extra></extra>",
        }
        if customdata is not None:
            trace["customdata"] = customdata
        if not bars:
            trace["mode"] = "lines"
            trace["connectgaps"] = False
            lone = _isolated(numbers)
            if any(lone):  # a marker where a value stands alone (a first call, a sparse hour), none elsewhere
                trace["mode"] = "lines+markers"
                trace["marker"] = {"size": [6 if alone else 0 for alone in lone]}
            if stacked:
                trace["stackgroup"] = "one"
        traces.append(trace)
    layout = _layout(title, y_unit=unit, y_title=y_title, barmode="stack" if bars and stacked else None,
                     duration_unit=duration_unit or "ms")
    layout["xaxis"]["type"] = "date"
    stacked_totals = [sum(v or 0 for v in column) for column in zip(*values.values(), strict=False)] if stacked else []
    _whole_ticks(layout["yaxis"], unit, [v for vs in values.values() for v in vs] + stacked_totals)
    return {"data": traces, "layout": layout}


def bar(title: str, labels: list[str], values: list[Any], *, unit: str, name: str = "",
        horizontal: bool = True) -> dict[str, Any]:
    labels = [label or "(none)" for label in labels]
    numbers = [_num(v) for v in values]
    divisor, duration_unit = _duration_scale(numbers) if unit == "ms" else (1.0, "ms")
    customdata, hover = _hover(unit, numbers, axis="x" if horizontal else "y")
    scaled = [v / divisor if isinstance(v, float) and divisor != 1 else v for v in numbers]
    trace: dict[str, Any] = {"type": "bar", "name": name or title, "orientation": "h" if horizontal else "v",
                             "hovertemplate": f"%{{{'y' if horizontal else 'x'}}}: {hover}<extra></extra>"}
    if horizontal:  # biggest on top
        trace.update(x=scaled[::-1], y=labels[::-1])
    else:
        trace.update(x=labels, y=scaled)
    if customdata is not None:
        trace["customdata"] = customdata[::-1] if horizontal else customdata
    layout = _layout(title, y_unit=unit, horizontal=horizontal, duration_unit=duration_unit)
    _whole_ticks(layout["xaxis" if horizontal else "yaxis"], unit, numbers)
    layout["showlegend"] = False
    layout["height"] = max(220, 60 + 28 * len(labels)) if horizontal else 300
    return {"data": [trace], "layout": layout}


def histogram(title: str, bins: list[tuple[float, float, int]], *, unit: str = "ms",
              x_title: str = "", count_label: str = "calls") -> dict[str, Any]:
    """bins: (low, high, count), already computed from the merged sketches (not raw calls). Bins
    are drawn as categories labelled by their lower edge (the hover shows both edges): latency
    bins grow geometrically, which a linear axis would squash and a log axis cannot draw as bar
    widths, and 30 "200 ms–220 ms" labels do not fit under a chart."""
    from dashboards.templatetags.obs import duration

    fmt = duration if unit == "ms" else (lambda v: f"{v:.3g}")
    trace = {"type": "bar", "name": count_label, "x": [fmt(lo) for lo, _, _ in bins], "y": [c for _, _, c in bins],
             "customdata": [f"{fmt(lo)}–{fmt(hi)}" for lo, hi, _ in bins],
             "hovertemplate": f"%{{customdata}}: %{{y:,}} {count_label}<extra></extra>"}
    title_text = x_title or _TITLE_UNIT.get(unit, unit)
    layout = _layout(title, y_unit="count", y_title=count_label, x_title=f"{title_text} (bins start at)")
    # About eight labels, whatever the number of bins: the hover names every bin.
    layout["xaxis"].update(type="category", dtick=max(1, math.ceil(len(bins) / 8)), automargin=True)
    _whole_ticks(layout["yaxis"], "count", [c for _, _, c in bins])
    layout["bargap"] = 0.05
    layout["showlegend"] = False
    layout["hovermode"] = "closest"
    return {"data": [trace], "layout": layout}


def stacked(title: str, series: list[dict[str, Any]], *, unit: str, limit: int = 8, bars: bool = True,
            y_title: str = "", other: str = "other") -> dict[str, Any]:
    """A stacked time series of the `limit` largest series (by their total), largest at the bottom,
    and the rest summed into one `other` trace, so a dimension with hundreds of values stays
    readable and the stack still adds up to the whole. Series share their points (series_many)."""
    ranked = sorted(series, key=lambda s: -sum(_num(p["value"]) or 0 for p in s["points"]))
    shown, rest = ranked[:limit], ranked[limit:]
    if rest:
        points = [{"t": p["t"], "value": sum(_num(s["points"][i]["value"]) or 0 for s in rest)}
                  for i, p in enumerate(rest[0]["points"])]
        shown = [*shown, {"name": other, "points": points}]
    return time_series(title, shown, unit=unit, stacked=True, bars=bars, y_title=y_title)


def dual_axis(title: str, bars: list[dict[str, Any]], line: dict[str, Any], *, bar_unit: str, line_unit: str,
              bar_title: str = "", line_title: str = "") -> dict[str, Any]:
    """Stacked bars on the left axis (e.g. how many ratings) and one line on the right axis (e.g.
    the share of them that were negative), over the same time points."""
    figure = time_series(title, bars, unit=bar_unit, stacked=True, bars=True, y_title=bar_title)
    numbers = [_num(p["value"]) for p in line["points"]]
    customdata, hover = _hover(line_unit, numbers)  # no duration line here: its axis is not rescaled
    figure["data"].append({
        "type": "scatter", "mode": "lines+markers", "name": line["name"], "yaxis": "y2", "connectgaps": False,
        "x": [_iso(p["t"]) for p in line["points"]], "y": numbers,
        "hovertemplate": f"%{{fullData.name}}: {hover}<extra></extra>",
        **({"customdata": customdata} if customdata is not None else {}),
    })
    figure["layout"]["yaxis2"] = {"title": {"text": line_title or _TITLE_UNIT.get(line_unit, line_unit)},
                                  "overlaying": "y", "side": "right", "rangemode": "tozero", "showgrid": False,
                                  **_AXIS.get(line_unit, {})}
    figure["layout"]["margin"]["r"] = 56
    return figure


# "Nice" bin edges within a decade, coarsest first: 1-2-5, then the E6, E12-ish and E24 series.
_LADDERS = [
    (1, 2, 5),
    (1, 1.5, 2, 3, 5, 7),
    (1, 1.2, 1.5, 2, 2.5, 3, 4, 5, 6, 8),
    (1, 1.1, 1.2, 1.3, 1.5, 1.6, 1.8, 2, 2.2, 2.4, 2.7, 3, 3.3, 3.6, 3.9, 4.3, 4.7, 5.1, 5.6, 6.2, 6.8, 7.5, 8.2,
     9.1),
]


def geometric_bins(values: Sequence[float], counts: Sequence[int], *,
                   max_bins: int = 30) -> list[tuple[float, float, int]]:
    """(low, high, count) bins with round edges (200, 250, 300 ms...) that grow geometrically, the
    finest ladder that covers the values in at most `max_bins`. values: the representative value
    of each sketch key (ascending, positive), counts: its count. Each key falls wholly in the bin
    holding its value, so the counts add up exactly (a key is 2% wide: edges are that precise)."""
    if not len(values):
        return []
    lo, hi = float(values[0]), float(values[-1])
    if lo <= 0:
        return linear_bins(values, counts, max_bins=max_bins)
    first, last = math.floor(math.log10(lo)), math.floor(math.log10(hi))
    for ladder in reversed(_LADDERS):
        edges = [float(f"{m}e{e}") for e in range(first, last + 2) for m in ladder]  # exact decimals
        start = max(i for i, edge in enumerate(edges) if edge <= lo)
        stop = min(i for i, edge in enumerate(edges) if edge > hi)
        if stop - start <= max_bins or ladder is _LADDERS[0]:
            return _count(edges[start:stop + 1], values, counts)
    raise AssertionError("unreachable")


def linear_bins(values: Sequence[float], counts: Sequence[int], *,
                max_bins: int = 20) -> list[tuple[float, float, int]]:
    """Equal-width bins with a round width: tenths for values within 0..1 (most quality scores),
    otherwise 1, 2 or 5 times a power of ten. The last bin includes its upper edge (a score of 1)."""
    if not len(values):
        return []
    lo, hi = float(values[0]), float(values[-1])
    if lo >= 0 and hi <= 1:
        return _count([i / 10 for i in range(11)], values, counts)
    raw = (hi - lo) / max_bins or 1.0
    magnitude = 10.0 ** math.floor(math.log10(raw))
    step = next(m * magnitude for m in (1, 2, 5, 10) if m * magnitude >= raw)
    first = math.floor(lo / step) * step
    n = max(1, math.floor((hi - first) / step) + 1)
    return _count([round(first + i * step, 12) for i in range(n + 1)], values, counts)


def _count(edges: list[float], values: Sequence[float], counts: Sequence[int]) -> list[tuple[float, float, int]]:
    totals = [0] * (len(edges) - 1)
    for value, count in zip(values, counts, strict=True):
        index = min(bisect.bisect_right(edges, float(value)) - 1, len(totals) - 1)
        totals[max(index, 0)] += int(count)
    return [(edges[i], edges[i + 1], totals[i]) for i in range(len(totals))]
