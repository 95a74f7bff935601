"""Cost: spend over time stacked by a chosen dimension, cost per priced call, the costliest users
and features, this month's spend with a month-end projection, and the models without a price.
Everything from rollups (users from the per-user daily rollups)."""
from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from django.http import HttpRequest, HttpResponse
from django.utils import timezone

from dashboards import charts
from dashboards.context import Page, project_page
from dashboards.selectors import series_many
from dashboards.selectors.analytics import (feature_costs, month_to_date, top_users, unpriced_models,
                                            user_cost_series)
from dashboards.views.common import LABELS, render_page
from rollups.selectors import MetricsError, aggregate

BY_CHOICES = [("model", "Model"), ("feature", "Feature"), ("team", "Team"), ("prompt_version", "Prompt version"),
              ("user", "User")]
TOP_GROUPS = 8  # stacked groups drawn; the rest are summed as "other"


def cost_by_figure(page: Page, by: str) -> dict[str, Any]:
    """The stacked cost chart. Raises MetricsError when the filters and grouping need the
    every-dimension cube at an interval it does not keep (minutes)."""
    if by == "user":
        series = user_cost_series(page, limit=TOP_GROUPS)
        return charts.time_series("Daily cost by user (UTC days)", series, unit="usd", stacked=True, bars=True)
    series = series_many(page.query(group_by=(by,), interval=True), ["cost"])["cost"]
    return charts.stacked(f"Cost by {LABELS[by].lower()}", series, unit="usd", limit=TOP_GROUPS)


def cost_per_call_figure(page: Page) -> dict[str, Any]:
    """Average cost of a priced call per interval: unpriced calls cost nothing and would pull it down."""
    series = series_many(page.query(interval=True), ["cost", "count", "unpriced"])
    points = []
    for cost, count, unpriced in zip(*(series[m][0]["points"] for m in ("cost", "count", "unpriced"))):
        priced = count["value"] - unpriced["value"]
        points.append({"t": cost["t"], "value": cost["value"] / priced if priced else None})
    return charts.time_series("Cost per priced call", [{"name": "cost per call", "points": points}], unit="usd",
                              y_title="USD per call")


def cost_context(page: Page, *, by: str, now: datetime) -> dict[str, Any]:
    totals = aggregate(page.query(), ["count", "cost", "unpriced"]).get((None,), {})
    context: dict[str, Any] = {
        "by": by, "by_choices": BY_CHOICES, "month": month_to_date(page, now),
        "totals": {"count": totals.get("count", 0), "cost": totals.get("cost", Decimal(0)),
                   "unpriced": totals.get("unpriced", 0)},
    }
    if not context["totals"]["count"]:
        return context
    figures: dict[str, Any] = {"cost_per_call": cost_per_call_figure(page)}
    try:
        figures["cost_by"] = cost_by_figure(page, by)
    except MetricsError as exc:
        context["by_notice"] = str(exc)
    features = feature_costs(page)
    context.update(figures=figures, users=top_users(page), features=features[:10],
                   unpriced_models=unpriced_models(page))
    return context


@project_page()
def cost(request: HttpRequest, page: Page) -> HttpResponse:
    by = request.GET.get("by", "")
    by = by if by in dict(BY_CHOICES) else BY_CHOICES[0][0]
    return render_page(request, page, "dashboards/cost.html", cost_context(page, by=by, now=timezone.now()),
                       active="cost", title="Cost")
