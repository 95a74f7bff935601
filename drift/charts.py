"""Drift figures: pure functions from rows the rollups (or stored findings) already hold to plotly.js
figure dicts, like dashboards/charts.py (whose bin ladders and time series they reuse)."""
from __future__ import annotations

import bisect
from collections.abc import Sequence
from typing import Any

from dashboards.charts import geometric_bins, linear_bins, time_series

BASELINE, CURRENT = "baseline", "current"


def shared_bins(baseline: tuple[Sequence[float], Sequence[int]], current: tuple[Sequence[float], Sequence[int]], *,
                unit: str) -> list[tuple[float, float, float, float]]:
    """(low, high, baseline share, current share) on edges chosen for both sides at once, so the two
    histograms overlay bin for bin; shares rather than counts, as the windows differ in length.
    Each side: (representative values ascending, counts), from the sketches."""
    values = sorted(set(baseline[0]) | set(current[0]))
    if not values:
        return []
    ones = [1] * len(values)
    edges_of = geometric_bins if unit == "ms" and values[0] > 0 else linear_bins
    edges = [lo for lo, _, _ in edges_of(values, ones)]
    edges.append(edges_of(values, ones)[-1][1])
    out = []
    shares = []
    for side_values, side_counts in (baseline, current):
        totals = [0.0] * (len(edges) - 1)
        for value, count in zip(side_values, side_counts, strict=True):
            index = min(max(bisect.bisect_right(edges, float(value)) - 1, 0), len(totals) - 1)
            totals[index] += float(count)
        whole = sum(totals) or 1.0
        shares.append([t / whole for t in totals])
    for i in range(len(edges) - 1):
        out.append((edges[i], edges[i + 1], shares[0][i], shares[1][i]))
    return out


def _label(value: float, unit: str) -> str:
    if unit == "ms":
        from dashboards.templatetags.obs import duration

        return duration(value)
    return f"{value:.3g}"


def distribution_overlay(title: str, bins: list[tuple[float, float, float, float]], *, unit: str) -> dict[str, Any]:
    """The two sides' histograms overlaid (shares per bin), bins labelled by their lower edge."""
    labels = [_label(lo, unit) for lo, _, _, _ in bins]
    spans = [f"{_label(lo, unit)}–{_label(hi, unit)}" for lo, hi, _, _ in bins]
    traces = [{"type": "bar", "name": name, "x": labels, "y": [row[2 + i] for row in bins], "customdata": spans,
               "opacity": 0.6, "hovertemplate": f"{name} %{{customdata}}: %{{y:.1%}}<extra></extra>"}
              for i, name in enumerate((BASELINE, CURRENT))]
    return {"data": traces, "layout": {
        "title": {"text": title, "x": 0, "xanchor": "left", "font": {"size": 14}}, "barmode": "overlay",
        "bargap": 0.05, "height": 320, "hovermode": "closest", "legend": {"orientation": "h", "y": -0.25},
        "margin": {"l": 56, "r": 16, "t": 40, "b": 40},
        "xaxis": {"type": "category", "title": {"text": "bins start at"}, "automargin": True,
                  "dtick": max(1, len(bins) // 8)},
        "yaxis": {"title": {"text": "share of values"}, "tickformat": ".0%", "rangemode": "tozero"}}}


def share_bars(title: str, categories: list[str], baseline: list[float], current: list[float]) -> dict[str, Any]:
    """Baseline and current side by side per category (a rate: one category; a mix: its categories)."""
    labels = [c or "(none)" for c in categories]
    traces = [{"type": "bar", "name": name, "x": labels, "y": values,
               "hovertemplate": f"{name} %{{x}}: %{{y:.2%}}<extra></extra>"}
              for name, values in ((BASELINE, baseline), (CURRENT, current))]
    return {"data": traces, "layout": {
        "title": {"text": title, "x": 0, "xanchor": "left", "font": {"size": 14}}, "barmode": "group",
        "height": 300, "hovermode": "closest", "legend": {"orientation": "h", "y": -0.25},
        "margin": {"l": 56, "r": 16, "t": 40, "b": 40}, "xaxis": {"type": "category", "automargin": True},
        "yaxis": {"title": {"text": "share"}, "tickformat": ".1%", "rangemode": "tozero"}}}


def statistic_history(title: str, points: list[dict[str, Any]], *, threshold: float) -> dict[str, Any]:
    """The statistic over past runs ({"t": run end, "value": statistic or None}) with its threshold."""
    figure = time_series(title, [{"name": "statistic", "points": points},
                                 {"name": "threshold", "points": [{"t": p["t"], "value": threshold} for p in points]}],
                         unit="score", y_title="statistic")
    figure["data"][0]["mode"] = "lines+markers"
    figure["data"][1]["line"] = {"dash": "dot"}
    return figure
