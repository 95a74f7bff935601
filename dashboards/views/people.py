"""Users and sessions: who costs most, calls most or fails most in the range (entity rollups), and
a page per user or session with its totals, its feedback and its calls (the explorer's table)."""
from __future__ import annotations

from typing import Any

from django.core.cache import cache
from django.http import Http404, HttpRequest, HttpResponse

from dashboards.context import Page, project_page
from dashboards.selectors.calls import ExplorerFilters
from dashboards.selectors.people import days_covering, entity_exists, entity_feedback, entity_totals
from dashboards.views.calls import link, page_of_calls
from dashboards.views.common import render_page
from rollups.selectors import top_entities

ORDERS = {"cost": "Cost", "calls": "Calls", "errors": "Errors"}
TOP = 25
# top_entities groups every user's or session's day rows of the range: ~1 s for the 190k sessions
# of a day at 10M calls a month, ~8 s over 30 days. Kept a few minutes, so the page's auto-refresh
# and its visitors share one computation; it sums whole UTC days, so the key holds the days.
TOP_CACHE_SECONDS = 300


def _top(page: Page, entity: str, order: str) -> list[dict[str, Any]]:
    days = days_covering(page.start, page.end)
    key = f"dashboards:top:{page.project.id}:{entity}:{order}:{days[0]:%Y%m%d}:{len(days)}"
    rows = cache.get_or_set(key, lambda: top_entities(project_id=page.project.id, entity=entity, start=page.start,
                                                      end=page.end, order_by=order, limit=TOP), TOP_CACHE_SECONDS)
    detail = "user-detail" if entity == "user" else "session-detail"
    for row in rows:
        row["url"] = link(detail, page.project.id, row["key"])
        row["error_rate"] = row["errors"] / row["calls"] if row["calls"] else None
    return rows


@project_page()
def people(request: HttpRequest, page: Page) -> HttpResponse:
    order = request.GET.get("by", "cost")
    if order not in ORDERS:
        order = "cost"
    context = {"order": order, "orders": [(key, label, f"?{page.keep(by=key)}") for key, label in ORDERS.items()],
               "users": _top(page, "user", order), "sessions": _top(page, "session", order), "top": TOP}
    return render_page(request, page, "dashboards/people.html", context, active="people",
                       title="Users & sessions", charts=False)


def _entity_page(request: HttpRequest, page: Page, entity: str, key: str) -> HttpResponse:
    if not entity_exists(project_id=page.project.id, entity=entity, key=key):
        raise Http404(f"No {entity} with this id in this project.")
    field = "user_id" if entity == "user" else "session_id"
    filters = ExplorerFilters(dims=page.filters, **{field: key})
    span = {"project_id": page.project.id, "entity": entity, "key": key, "start": page.start, "end": page.end}
    feedback = entity_feedback(**span)
    for comment in feedback["comments"]:
        comment["url"] = link("call-detail", page.project.id, comment["call__external_id"])
    context = {**page_of_calls(request, page, filters), "entity": entity, "key": key,
               "totals": entity_totals(**span), "feedback": feedback}
    label = "User" if entity == "user" else "Session"
    return render_page(request, page, f"dashboards/{entity}_detail.html", context, active="people",
                       title=f"{label} {key}", charts=False)


@project_page()
def user_detail(request: HttpRequest, page: Page, user_id: str) -> HttpResponse:
    return _entity_page(request, page, "user", user_id)


@project_page()
def session_detail(request: HttpRequest, page: Page, session_id: str) -> HttpResponse:
    return _entity_page(request, page, "session", session_id)
