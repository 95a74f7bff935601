"""Overview: headline tiles against the previous period, the main time series, and the models,
prompt versions and features that cost most or fail most. Everything from rollups."""
from __future__ import annotations

from typing import Any

from django.apps import apps
from django.http import HttpRequest, HttpResponse

from dashboards import charts
from dashboards.context import Page, project_page
from dashboards.selectors import feedback_totals, grouped, project_has_calls, series_many
from dashboards.selectors.versions import prompt_version_comparison
from dashboards.views.common import render_page
from dashboards.views.home import LAST_PROJECT, start_context
from rollups.cubes import choose_cube
from rollups.selectors import aggregate, score_totals

TILE_MEASURES = ["count", "errors", "error_rate", "latency_p50", "latency_p95", "latency_p99", "ttft_p95",
                 "tokens_total", "cost", "unpriced"]
TOP_DIMENSIONS = [("model", "Models"), ("prompt_version", "Prompt versions"), ("feature", "Features")]


def tiles(page: Page) -> dict[str, Any]:
    """{name: value} for the range; flags, thumbs-down rate and average rating next to the call
    measures. Feedback counts by its call's time, so it follows the range and filters exactly."""
    values = aggregate(page.query(), TILE_MEASURES).get((None,), {})
    out = {m: values.get(m) for m in TILE_MEASURES}
    out["count"] = out["count"] or 0
    out["flags"] = sum(v["count"] for v in score_totals(page.query(), prefix="flag:").values()) \
        if _single_cube(page) else None
    feedback = feedback_totals(page.query())
    out["thumbs_down_rate"], out["rating_avg"] = feedback["thumbs_down_rate"], feedback["rating_avg"]
    return out


def _single_cube(page: Page) -> bool:
    """Scores and flags are rolled up by one dimension at a time (rollups/fold.py)."""
    return choose_cube(set(page.filters) | {"kind"}) != "all"


def top_rows(page: Page, dimension: str) -> list[dict[str, Any]]:
    rows = grouped(page.query(group_by=(dimension,)), ["count", "errors", "error_rate", "cost"])
    return rows


def _firing(page: Page) -> Any:
    """What alerts has firing now (alerts/firing.py), or None where the alerts app is not installed:
    dashboards reads alerts through this one seam and its one template."""
    if not apps.is_installed("alerts"):
        return None
    from alerts.firing import firing_now

    return firing_now(project_id=page.project.id)


def _drift(page: Page) -> Any:
    """The newest drift run's top findings (drift/views.py), or None where the drift app is not installed."""
    if not apps.is_installed("drift"):
        return None
    from drift.views import overview_findings

    return overview_findings(page)


@project_page()
def overview(request: HttpRequest, page: Page) -> HttpResponse:
    if request.session.get(LAST_PROJECT) != page.project.id:  # a session write only when it changes
        request.session[LAST_PROJECT] = page.project.id
    if not project_has_calls(project_id=page.project.id):
        return render_page(request, page, "dashboards/start.html",
                           {**start_context(page), "title": "Send your first event"}, active="overview",
                           title="Send your first event", toolbar=False, charts=False)
    current, previous = tiles(page), tiles(page.previous())
    series = series_many(page.query(interval=True), ["count", "errors", "latency_p50", "latency_p95",
                                                     "latency_p99", "cost"])
    calls_errors = [{"name": "calls", "points": series["count"][0]["points"]},
                    {"name": "errors", "points": series["errors"][0]["points"]}]
    latency = [{"name": name, "points": series[f"latency_{name}"][0]["points"]} for name in ("p50", "p95", "p99")]
    figures = {
        "calls": charts.time_series("Calls and errors", calls_errors, unit="count"),
        "latency": charts.time_series("Latency percentiles", latency, unit="ms", y_title="latency (ms)"),
        "cost": charts.time_series("Cost", [{"name": "cost", "points": series["cost"][0]["points"]}], unit="usd",
                                   bars=True),
    }
    tops, compare_links = [], []
    for dimension, label in TOP_DIMENSIONS:
        rows = top_rows(page, dimension)
        if dimension == "prompt_version":  # links to compare each prompt's versions (prompt_versions_context)
            names = sorted({r["group"][0] for r in rows if r["group"][0]},
                           key=lambda n: -sum(r["count"] or 0 for r in rows if r["group"][0] == n))
            compare_links = [(name, page.keep(prompt_name=name, prompt_version=None)) for name in names]
        by_cost = sorted(rows, key=lambda r: r["cost"], reverse=True)[:8]
        by_errors = sorted((r for r in rows if r["errors"]), key=lambda r: r["errors"], reverse=True)[:8]
        tops.append({"dimension": dimension, "label": label, "by_cost": by_cost, "by_errors": by_errors,
                     "cost_chart": charts.bar(f"{label} by cost", [r["name"] for r in by_cost],
                                              [r["cost"] for r in by_cost], unit="usd")})
    return render_page(request, page, "dashboards/overview.html",
                       {"now": current, "before": previous, "figures": figures, "tops": tops,
                        "firing": _firing(page), "drift": _drift(page),
                        **prompt_versions_context(page, compare_links)},
                       active="overview", title="Overview")


def prompt_versions_context(page: Page, compare_links: list[tuple[str, str]]) -> dict[str, Any]:
    """With one prompt chosen (and no version), its versions compared; else links choosing one."""
    prompts = page.params.getlist("prompt_name") if page.params is not None else []
    chosen = prompts[0] if len(prompts) == 1 and prompts[0] and not page.filters.get("prompt_version") else ""
    return {"versions": prompt_version_comparison(page, chosen) if chosen else None,
            "compare_links": compare_links, "compare_clear": page.keep(prompt_name=None, prompt_version=None)}
