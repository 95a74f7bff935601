"""Users and sessions (being written)."""
from __future__ import annotations

from django.http import HttpRequest, HttpResponse

from dashboards.context import Page, project_page
from dashboards.views.common import render_page


@project_page()
def people(request: HttpRequest, page: Page) -> HttpResponse:
    return render_page(request, page, "dashboards/placeholder.html", {}, active="people", title="Users & sessions")


@project_page()
def user_detail(request: HttpRequest, page: Page, user_id: str) -> HttpResponse:
    return render_page(request, page, "dashboards/placeholder.html", {}, active="people", title="User")


@project_page()
def session_detail(request: HttpRequest, page: Page, session_id: str) -> HttpResponse:
    return render_page(request, page, "dashboards/placeholder.html", {}, active="people", title="Session")
