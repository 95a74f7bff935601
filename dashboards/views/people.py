"""Users and sessions: who costs most, calls most or fails most in the range (entity rollups), and
a page per user or session with its totals, its feedback and its calls (the explorer's table)."""
from __future__ import annotations

from typing import Any

from django.http import Http404, HttpRequest, HttpResponse

from dashboards.context import Page, project_page
from dashboards.selectors.calls import ExplorerFilters
from dashboards.selectors.people import entity_exists, entity_feedback, entity_totals, top_entities_cached
from dashboards.views.calls import link, page_of_calls
from dashboards.views.common import render_page

ORDERS = {"cost": "Cost", "calls": "Calls", "errors": "Errors"}
TOP = 25


def _top(page: Page, entity: str, order: str) -> list[dict[str, Any]]:
    # Grouping every user's or session's day rows takes seconds at 10M calls a month: the preset
    # ranges are kept warm by dashboards.tasks.warm_top_entities (see top_entities_cached).
    rows = top_entities_cached(project_id=page.project.id, entity=entity, start=page.start, end=page.end,
                               order=order, limit=TOP)
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
