"""Project settings (being written)."""
from __future__ import annotations

from django.http import HttpRequest, HttpResponse

from dashboards.context import Page, project_page
from dashboards.views.common import render_page


@project_page()
def overview(request: HttpRequest, page: Page) -> HttpResponse:
    return render_page(request, page, "dashboards/placeholder.html", {}, active="settings", title="Settings",
                       toolbar=False, charts=False)


@project_page(manage=True)
def key_create(request: HttpRequest, page: Page) -> HttpResponse:
    raise NotImplementedError


key_revoke = member_add = member_update = quality_update = retention_update = price_add = price_delete = key_create
