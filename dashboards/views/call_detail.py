"""Call detail and trace (being written)."""
from __future__ import annotations

from django.http import HttpRequest, HttpResponse

from dashboards.context import Page, project_page
from dashboards.views.common import render_page


@project_page()
def detail(request: HttpRequest, page: Page, external_id: str) -> HttpResponse:
    return render_page(request, page, "dashboards/placeholder.html", {}, active="calls", title="Call")


@project_page()
def trace(request: HttpRequest, page: Page, trace_id: str) -> HttpResponse:
    return render_page(request, page, "dashboards/placeholder.html", {}, active="calls", title="Trace")
