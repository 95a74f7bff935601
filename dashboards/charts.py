"""Chart builders: rows the rollup selectors already aggregated in, a Plotly figure out.

Figures are plain dicts in plotly.js's figure format rather than `plotly.graph_objects`: building
and validating a graph_objects figure costs ~17 ms each here (measured), a page draws four or
five, and pages must render in under 300 ms. The tests pass every builder's output through
`plotly.graph_objects.Figure` so the dicts stay valid Plotly. Colours for light and dark mode
are applied in the browser (static/dashboards/app.js), so a figure does not depend on the theme.
"""
from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

# Axis formats per unit (d3-format strings, as plotly.js expects).
_AXIS: dict[str, dict[str, Any]] = {
    "usd": {"tickprefix": "$", "tickformat": ",.4~f"},
    "ms": {"ticksuffix": " ms", "tickformat": ",.0f"},
    "ratio": {"tickformat": ".1%"},
    "count": {"tickformat": "~s"},
    "tokens": {"tickformat": "~s"},
    "score": {"tickformat": ".2f"},
}
_HOVER: dict[str, str] = {
    "usd": "$%{y:,.6f}", "ms": "%{y:,.0f} ms", "ratio": "%{y:.2%}", "count": "%{y:,}", "tokens": "%{y:,}",
    "score": "%{y:.3f}",
}
_TITLE_UNIT = {"usd": "USD", "ms": "ms", "ratio": "%", "count": "calls", "tokens": "tokens", "score": "score"}


def _num(value: Any) -> float | None:
    if value is None:
        return None
    return float(value) if isinstance(value, (Decimal, int, float)) else value


def _iso(when: Any) -> Any:
    return when.isoformat() if isinstance(when, datetime) else when


def _layout(title: str, *, y_unit: str, x_title: str = "", y_title: str = "", barmode: str | None = None,
            horizontal: bool = False) -> dict[str, Any]:
    value_axis = {"title": {"text": y_title or _TITLE_UNIT.get(y_unit, y_unit)}, "rangemode": "tozero",
                  **_AXIS.get(y_unit, {})}
    category_axis: dict[str, Any] = {"title": {"text": x_title}} if x_title else {}
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


def time_series(title: str, series: list[dict[str, Any]], *, unit: str, stacked: bool = False,
                bars: bool = False, y_title: str = "") -> dict[str, Any]:
    """series: [{"name": str, "points": [{"t": datetime, "value": number|None}]}], one trace each."""
    traces = []
    for item in series:
        trace: dict[str, Any] = {
            "type": "bar" if bars else "scatter", "name": item["name"] or "(none)",
            "x": [_iso(p["t"]) for p in item["points"]], "y": [_num(p["value"]) for p in item["points"]],
            "hovertemplate": f"%{{fullData.name}}: {_HOVER.get(unit, '%{y}')}<extra></extra>",
        }
        if not bars:
            trace["mode"] = "lines"
            trace["connectgaps"] = False
            if stacked:
                trace["stackgroup"] = "one"
        traces.append(trace)
    layout = _layout(title, y_unit=unit, y_title=y_title, barmode="stack" if bars and stacked else None)
    layout["xaxis"]["type"] = "date"
    return {"data": traces, "layout": layout}


def bar(title: str, labels: list[str], values: list[Any], *, unit: str, name: str = "",
        horizontal: bool = True) -> dict[str, Any]:
    labels = [label or "(none)" for label in labels]
    numbers = [_num(v) for v in values]
    hover = _HOVER.get(unit, "%{y}").replace("%{y", "%{x") if horizontal else _HOVER.get(unit, "%{y}")
    trace: dict[str, Any] = {"type": "bar", "name": name or title, "orientation": "h" if horizontal else "v",
                             "hovertemplate": f"%{{{'y' if horizontal else 'x'}}}: {hover}<extra></extra>"}
    if horizontal:  # biggest on top
        trace.update(x=numbers[::-1], y=labels[::-1])
    else:
        trace.update(x=labels, y=numbers)
    layout = _layout(title, y_unit=unit, horizontal=horizontal)
    layout["showlegend"] = False
    layout["height"] = max(220, 60 + 28 * len(labels)) if horizontal else 300
    return {"data": [trace], "layout": layout}


def histogram(title: str, bins: list[tuple[float, float, int]], *, unit: str = "ms",
              x_title: str = "") -> dict[str, Any]:
    """bins: (low, high, count), already computed from the merged sketches (not raw calls). Bins
    are drawn as categories labelled by their edges: latency bins grow geometrically, which a
    linear axis would squash and a log axis cannot draw as bar widths."""
    from dashboards.templatetags.obs import duration

    fmt = duration if unit == "ms" else (lambda v: f"{v:.2f}")
    labels = [f"{fmt(lo)}–{fmt(hi)}" for lo, hi, _ in bins]
    trace = {"type": "bar", "name": "calls", "x": labels, "y": [c for _, _, c in bins],
             "hovertemplate": "%{x}: %{y:,} calls<extra></extra>"}
    layout = _layout(title, y_unit="count", y_title="calls", x_title=x_title or unit)
    layout["xaxis"]["type"] = "category"
    layout["bargap"] = 0.05
    layout["showlegend"] = False
    layout["hovermode"] = "closest"
    return {"data": [trace], "layout": layout}
