"""Cost: spend over time stacked by a chosen dimension, cost per priced call, the costliest users
and features, this month's spend with a month-end projection, and the models without a price.
Everything from rollups (users from the per-user daily rollups)."""
from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import timezone

from dashboards import charts
from dashboards.context import Page, project_page
from dashboards.selectors import analytics, series_many
from dashboards.views.common import LABELS, render_page
from rollups.selectors import MetricsError, aggregate

BY_CHOICES = [("model", "Model"), ("feature", "Feature"), ("team", "Team"), ("prompt_version", "Prompt version"),
              ("user", "User")]
TOP_GROUPS = 8  # stacked groups drawn; the rest are summed as "other"


def cost_by_figure(page: Page, by: str) -> dict[str, Any]:
    """The stacked cost chart by a rollup dimension. Raises MetricsError when the filters and
    grouping need the every-dimension cube at an interval it does not keep (minutes)."""
    series = series_many(page.query(group_by=(by,), interval=True), ["cost"])["cost"]
    return charts.stacked(f"Cost by {LABELS[by].lower()}", series, unit="usd", limit=TOP_GROUPS)


def users_context(page: Page, *, by: str) -> dict[str, Any]:
    """The top users table and, with by=user, their daily cost. Ranking users reads every user's
    daily rollup row of the range (~1 s for 30 days at 20k users), so the page loads this part
    after itself (part=users) instead of making everything else wait."""
    users = analytics.top_users(page)
    context: dict[str, Any] = {"page": page, "by": by, "users": users}
    if by == "user":
        series = analytics.user_cost_series(page, [user["key"] for user in users[:TOP_GROUPS]])
        context["figure"] = charts.time_series("Daily cost by user (UTC days)", series, unit="usd", stacked=True,
                                               bars=True)
    return context


def cost_per_call_figure(page: Page) -> dict[str, Any]:
    """Average cost of a priced call per interval: unpriced calls cost nothing and would pull it down."""
    series = series_many(page.query(interval=True), ["cost", "count", "unpriced"])
    points = []
    for cost, count, unpriced in zip(*(series[m][0]["points"] for m in ("cost", "count", "unpriced")), strict=True):
        priced = count["value"] - unpriced["value"]
        points.append({"t": cost["t"], "value": cost["value"] / priced if priced else None})
    return charts.time_series("Cost per priced call", [{"name": "cost per call", "points": points}], unit="usd",
                              y_title="USD per call")


def cost_context(page: Page, *, by: str, now: datetime) -> dict[str, Any]:
    totals = aggregate(page.query(), ["count", "cost", "unpriced"]).get((None,), {})
    context: dict[str, Any] = {
        "by": by, "by_choices": BY_CHOICES, "month": analytics.month_to_date(page, now),
        "totals": {"count": totals.get("count", 0), "cost": totals.get("cost", Decimal(0)),
                   "unpriced": totals.get("unpriced", 0)},
    }
    if not context["totals"]["count"]:
        return context
    figures: dict[str, Any] = {"cost_per_call": cost_per_call_figure(page)}
    if by != "user":
        try:
            figures["cost_by"] = cost_by_figure(page, by)
        except MetricsError as exc:
            context["by_notice"] = str(exc)
    context.update(figures=figures, features=analytics.feature_costs(page)[:10],
                   unpriced_models=analytics.unpriced_models(page), users_query=page.keep(part="users"))
    return context


@project_page()
def cost(request: HttpRequest, page: Page) -> HttpResponse:
    by = request.GET.get("by", "")
    by = by if by in dict(BY_CHOICES) else BY_CHOICES[0][0]
    if request.GET.get("part") == "users":
        return render(request, "dashboards/_cost_users.html", users_context(page, by=by))
    return render_page(request, page, "dashboards/cost.html", cost_context(page, by=by, now=timezone.now()),
                       active="cost", title="Cost")
