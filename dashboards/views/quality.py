"""Quality: scores over time and the chosen score's distribution (the evaluators' and the ones
clients send), flag rates over the calls evaluated, end users' thumbs and ratings, and the prompt
versions doing worst. Everything from rollups; feedback counts by the time of the call rated."""
from __future__ import annotations

from typing import Any

from django.http import HttpRequest, HttpResponse

from dashboards import charts
from dashboards.context import Page, project_page
from dashboards.selectors import analytics, feedback_totals
from dashboards.views.common import render_page
from quality.models import QualitySettings
from quality.selectors import evaluation_lag
from rollups.selectors import MetricsError, distribution, flag_totals, score_totals
from rollups.signals import FEEDBACK_RATING
from rollups.sketch import value_of

TREND_SCORES = 5  # lines on the trend chart: the chosen score and the most-scored others on its scale


def scores_part(page: Page, chosen: str) -> dict[str, Any]:
    """Everything read from the score rollups. Raises MetricsError when the global filters span
    several cubes: scores are rolled up by one dimension at a time (quality/scorefold.py)."""
    totals = score_totals(page.query())
    names = sorted(totals, key=lambda n: (-totals[n]["count"], n))
    default = next((n for n in names if n not in analytics.COUNT_SCORES), names[0] if names else "")
    chosen = chosen if chosen in totals else default
    flag_rows = sorted(({"name": name, **row} for name, row in flag_totals(page.query()).items()),
                       key=lambda r: (-r["count"], r["name"]))
    part: dict[str, Any] = {"scores": [{"name": n, "link": page.keep(score=n), **totals[n]} for n in names],
                            "chosen": chosen, "flags": flag_rows, "figures": {}}
    if flag_rows:
        part["figures"]["flags"] = charts.bar("Flag rate by type (share of the calls evaluated)",
                                              [r["name"] for r in flag_rows], [r["rate"] for r in flag_rows],
                                              unit="ratio", name="flag rate")
    if not chosen:
        return part
    apart = analytics.COUNT_SCORES
    # One axis, one direction: a score where higher is worse never shares the chart with one where
    # higher is better (each has its own chart, through the score chooser).
    worse_up = analytics.directions(page.project.id)
    way = worse_up(chosen)
    same_scale = [] if chosen in apart else [n for n in names if n != chosen and n not in apart
                                             and worse_up(n) == way]
    trends = analytics.score_trends(page, [chosen, *same_scale][:TREND_SCORES])
    direction = "higher is worse" if way else "higher is better"
    part["figures"]["trend"] = charts.time_series(f"Average score over time ({direction})", trends, unit="score",
                                                  y_title=f"average score, {direction}")
    keys, counts = distribution(page.query(score=chosen), "score")
    bins = charts.linear_bins([value_of(int(k)) for k in keys], counts.tolist())
    part["figures"]["distribution"] = charts.histogram(f"Distribution of {chosen}", bins, unit="score",
                                                       x_title=chosen, count_label="scored calls")
    return part


def feedback_part(page: Page) -> dict[str, Any]:
    """End users' thumbs and ratings from the feedback rollups, which follow any filters. Raises
    MetricsError for minute intervals with filters on several dimensions (whole hours only)."""
    totals = feedback_totals(page.query())
    part: dict[str, Any] = {"feedback": totals, "rated": totals["thumbs_count"] or 0, "figures": {}}
    if part["rated"]:
        thumbs = analytics.thumbs_series(page)
        part["figures"]["thumbs"] = charts.dual_axis(
            "End-user thumbs, by when the rated call ran", [{"name": "thumbs up", "points": thumbs["up"]},
                                                            {"name": "thumbs down", "points": thumbs["down"]}],
            {"name": "thumbs-down rate", "points": thumbs["rate"]}, bar_unit="count", line_unit="ratio",
            bar_title="ratings", line_title="thumbs down")
    if totals["rating_count"]:
        keys, counts = distribution(page.query(score=FEEDBACK_RATING), "score")
        stars = dict.fromkeys(range(1, 6), 0)
        for key, count in zip(keys.tolist(), counts.tolist(), strict=True):
            stars[min(max(round(value_of(key)), 1), 5)] += count
        part["figures"]["ratings"] = charts.bar("End-user ratings", [f"{n} ★" for n in stars], list(stars.values()),
                                                unit="count", name="ratings", horizontal=False)
    return part


def quality_context(page: Page, *, chosen: str) -> dict[str, Any]:
    context: dict[str, Any] = {"scores": [], "flags": [], "chosen": "", "figures": {}, "feedback": {}, "rated": 0}
    try:
        context.update(scores_part(page, chosen))
    except MetricsError as exc:
        context["notice"] = str(exc)
    try:
        part = feedback_part(page)
    except MetricsError as exc:
        context["feedback_notice"] = str(exc)
    else:
        context["figures"].update(part.pop("figures"))
        context.update(part)
    scores: dict[tuple[str, str], dict[str, Any]] = {}
    if context["chosen"]:
        try:
            scores = analytics.prompt_scores(page, context["chosen"])
        except MetricsError as exc:  # e.g. a model filter: scores by prompt need the prompt cube alone
            context["worst_notice"] = str(exc)
    try:
        context["worst"] = analytics.worst_prompts(page, context["chosen"], scores)
    except MetricsError as exc:
        context["worst"], context["worst_notice"] = [], str(exc)
    worse_up = bool(context["chosen"]) and analytics.directions(page.project.id)(context["chosen"])
    context["chosen_direction"] = "higher is worse" if worse_up else "higher is better"
    context["empty"] = not (context["scores"] or context["flags"] or context["feedback"].get("feedback_count")
                            or "notice" in context or "feedback_notice" in context)
    context["lag"] = evaluation_lag(project_id=page.project.id)
    context["sample_rate"] = QualitySettings.objects.filter(project_id=page.project.id).values_list(
        "sample_rate", flat=True).first()
    return context


@project_page()
def quality(request: HttpRequest, page: Page) -> HttpResponse:
    return render_page(request, page, "dashboards/quality.html",
                       quality_context(page, chosen=request.GET.get("score", "")), active="quality", title="Quality")
