"""The cost page (being written)."""
from __future__ import annotations

from django.http import HttpRequest, HttpResponse

from dashboards.context import Page, project_page
from dashboards.views.common import render_page


@project_page()
def cost(request: HttpRequest, page: Page) -> HttpResponse:
    return render_page(request, page, "dashboards/placeholder.html", {}, active="cost", title="cost".title())
