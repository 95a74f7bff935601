"""Quality: the evaluators' scores over time and the chosen score's distribution, flag rates by
type, end users' thumbs over time, and the prompt versions doing worst. Scores and flags from
rollups; thumbs from the (small) feedback table."""
from __future__ import annotations

from typing import Any

from django.http import HttpRequest, HttpResponse

from dashboards import charts
from dashboards.context import Page, project_page
from dashboards.selectors import analytics
from dashboards.views.common import render_page
from rollups.selectors import MetricsError, aggregate, distribution, score_totals
from rollups.sketch import value_of

TREND_SCORES = 5  # lines on the trend chart: the chosen score and the most-scored others on its scale


def scores_part(page: Page, chosen: str) -> dict[str, Any]:
    """Everything read from the score rollups. Raises MetricsError when the global filters span
    several cubes: scores are rolled up by one dimension at a time (quality/scorefold.py)."""
    totals = score_totals(page.query())
    names = sorted(totals, key=lambda n: (-totals[n]["count"], n))
    default = next((n for n in names if n not in analytics.COUNT_SCORES), names[0] if names else "")
    chosen = chosen if chosen in totals else default
    flags = score_totals(page.query(), prefix="flag:")
    calls = aggregate(page.query(), ["count"]).get((None,), {}).get("count", 0)
    flag_rows = sorted(({"name": name.removeprefix("flag:"), "count": row["count"],
                         "rate": row["count"] / calls if calls else None} for name, row in flags.items()),
                       key=lambda r: (-r["count"], r["name"]))
    part: dict[str, Any] = {"scores": [{"name": n, "link": page.keep(score=n), **totals[n]} for n in names],
                            "chosen": chosen, "flags": flag_rows, "calls": calls, "figures": {}}
    if flag_rows:
        part["figures"]["flags"] = charts.bar("Flag rate by type (share of model calls)",
                                              [r["name"] for r in flag_rows], [r["rate"] for r in flag_rows],
                                              unit="ratio", name="flag rate")
    if not chosen:
        return part
    apart = analytics.COUNT_SCORES
    same_scale = [] if chosen in apart else [n for n in names if n != chosen and n not in apart]
    trends = analytics.score_trends(page, [chosen, *same_scale][:TREND_SCORES])
    part["figures"]["trend"] = charts.time_series("Average score over time", trends, unit="score",
                                                  y_title="average score")
    keys, counts = distribution(page.query(score=chosen), "score")
    bins = charts.linear_bins([value_of(int(k)) for k in keys], counts.tolist())
    part["figures"]["distribution"] = charts.histogram(f"Distribution of {chosen}", bins, unit="score",
                                                       x_title=chosen, count_label="scored calls")
    return part


def quality_context(page: Page, *, chosen: str) -> dict[str, Any]:
    context: dict[str, Any] = {"scores": [], "flags": [], "chosen": "", "figures": {}}
    try:
        context.update(scores_part(page, chosen))
    except MetricsError as exc:
        context["notice"] = str(exc)
    thumbs = analytics.thumbs_series(page)
    rated = sum(p["value"] or 0 for p in thumbs["up"]) + sum(p["value"] or 0 for p in thumbs["down"])
    context["thumbs_since"] = thumbs["since"]
    if rated:
        context["figures"]["thumbs"] = charts.dual_axis(
            "End-user thumbs", [{"name": "thumbs up", "points": thumbs["up"]},
                                {"name": "thumbs down", "points": thumbs["down"]}],
            {"name": "thumbs-down rate", "points": thumbs["rate"]}, bar_unit="count", line_unit="ratio",
            bar_title="ratings", line_title="thumbs down")
    context["rated"] = rated
    scores: dict[tuple[str, str], dict[str, Any]] = {}
    if context["chosen"]:
        try:
            scores = analytics.prompt_scores(page, context["chosen"])
        except MetricsError as exc:  # e.g. a model filter: scores by prompt need the prompt cube alone
            context["worst_notice"] = str(exc)
    context["worst"], context["ratings_sampled"] = analytics.worst_prompts(page, context["chosen"], scores)
    context["ratings_sample"] = analytics.RATINGS_SAMPLE
    worse_up = analytics.higher_is_worse(context["chosen"])
    context["chosen_direction"] = "higher is worse" if worse_up else "higher is better"
    context["empty"] = not (context["scores"] or context["flags"] or rated or "notice" in context)
    return context


@project_page()
def quality(request: HttpRequest, page: Page) -> HttpResponse:
    return render_page(request, page, "dashboards/quality.html",
                       quality_context(page, chosen=request.GET.get("score", "")), active="quality", title="Quality")
