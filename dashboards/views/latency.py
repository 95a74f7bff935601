"""Latency: percentiles over time (overall, or one percentile per model or prompt version), time to
first token, the range's latency distribution from the merged sketches, and the slowest calls."""
from __future__ import annotations

from typing import Any

from django.http import HttpRequest, HttpResponse

from dashboards import charts
from dashboards.context import Page, project_page
from dashboards.selectors import series_many
from dashboards.selectors.analytics import slowest_calls
from dashboards.views.common import LABELS, render_page
from rollups.selectors import MetricsError, aggregate, distribution
from rollups.sketch import value_of

BY_CHOICES = [("none", "Overall"), ("model", "Model"), ("prompt_version", "Prompt version")]
PERCENTILES = ["p50", "p90", "p95", "p99"]
TOP_GROUPS = 8  # percentiles cannot be summed into "other": only the busiest groups are drawn
SUMMARY = ["count", *(f"latency_{p}" for p in PERCENTILES), "latency_max", "ttft_p50", "ttft_p95"]


def percentile_figures(page: Page, by: str, pct: str) -> dict[str, Any]:
    """The percentile and TTFT charts: one interval query (two when grouped)."""
    ttft = [f"ttft_{p}" for p in PERCENTILES]
    if by == "none":
        series = series_many(page.query(interval=True), [f"latency_{p}" for p in PERCENTILES] + ttft)
        lines = [{"name": p, "points": series[f"latency_{p}"][0]["points"]} for p in PERCENTILES]
        latency = charts.time_series("Latency percentiles", lines, unit="ms", y_title="latency (ms)")
    else:
        series = series_many(page.query(interval=True), ttft)
        groups = series_many(page.query(group_by=(by,), interval=True), [f"latency_{pct}", "count"])
        busiest = sorted(zip(groups[f"latency_{pct}"], groups["count"], strict=True),
                         key=lambda pair: -sum(p["value"] for p in pair[1]["points"]))[:TOP_GROUPS]
        latency = charts.time_series(f"Latency {pct} by {LABELS[by].lower()}", [line for line, _ in busiest],
                                     unit="ms", y_title=f"{pct} latency (ms)")
    has_ttft = any(p["value"] is not None for p in series["ttft_p50"][0]["points"])
    lines = [{"name": p, "points": series[f"ttft_{p}"][0]["points"]} for p in PERCENTILES]
    return {"latency": latency, "ttft": charts.time_series("Time to first token", lines, unit="ms",
                                                             y_title="TTFT (ms)") if has_ttft else None}


def histogram_figure(page: Page) -> tuple[dict[str, Any] | None, int]:
    """The range's latency histogram in round, geometrically growing bins, and how many calls it holds."""
    keys, counts = distribution(page.query(), "latency")
    bins = charts.geometric_bins([value_of(int(k)) for k in keys], counts.tolist())
    total = int(counts.sum())
    return (charts.histogram("Latency distribution", bins, unit="ms", x_title="latency") if total else None), total


def latency_context(page: Page, *, by: str, pct: str) -> dict[str, Any]:
    summary = {**dict.fromkeys(SUMMARY), "count": 0, **aggregate(page.query(), SUMMARY).get((None,), {})}
    context: dict[str, Any] = {"by": by, "pct": pct, "by_choices": BY_CHOICES, "percentiles": PERCENTILES,
                               "summary": summary}
    if not summary.get("count") or summary.get("latency_p50") is None:
        return context
    figures: dict[str, Any] = {}
    try:
        figures.update(percentile_figures(page, by, pct))
    except MetricsError as exc:
        context["notice"] = str(exc)
    figures["histogram"], context["timed"] = histogram_figure(page)
    context.update(figures=figures, slowest=slowest_calls(page))
    return context


@project_page()
def latency(request: HttpRequest, page: Page) -> HttpResponse:
    by = request.GET.get("by", "")
    by = by if by in dict(BY_CHOICES) else "none"
    pct = request.GET.get("pct", "")
    pct = pct if pct in PERCENTILES else "p95"
    return render_page(request, page, "dashboards/latency.html", latency_context(page, by=by, pct=pct),
                       active="latency", title="Latency")
