"""The end-user page's privacy actions, for owners and admins: download the user's data, and erase
it after a confirmation step that asks for the user id typed again (a slip of the mouse erases
nothing). The erasure runs in a worker; its page shows the status and what was removed."""
from __future__ import annotations

from django.http import HttpRequest, HttpResponse, StreamingHttpResponse
from django.shortcuts import get_object_or_404, redirect
from django.utils.cache import add_never_cache_headers

from dashboards.context import Page, project_page
from dashboards.views.common import render_page
from privacy.models import Erasure, ErasureStatus
from privacy.services import end_user_export, erasure_request


@project_page(manage=True)
def export(request: HttpRequest, page: Page, user_id: str) -> HttpResponse:
    response = StreamingHttpResponse(end_user_export(project=page.project, user_id=user_id),
                                     content_type="application/json")
    response["Content-Disposition"] = f'attachment; filename="end-user-export-project-{page.project.id}.json"'
    add_never_cache_headers(response)
    return response


@project_page(manage=True)
def erase(request: HttpRequest, page: Page, user_id: str) -> HttpResponse:
    error = None
    if request.method == "POST":
        if request.POST.get("confirm", "") == user_id:
            erasure = erasure_request(project=page.project, user_id=user_id, actor=request.user)
            return redirect("end-user-erasure", page.project.id, erasure.pk)
        error = "The id you typed does not match this user's id: nothing was erased."
    context = {"user_id": user_id, "error": error}
    response = render_page(request, page, "privacy/erase.html", context, active="people", title="Erase an end user",
                           toolbar=False, charts=False, status=400 if error else 200)
    add_never_cache_headers(response)
    return response


@project_page(manage=True)
def erasure_status(request: HttpRequest, page: Page, erasure_id: int) -> HttpResponse:
    erasure = get_object_or_404(Erasure, pk=erasure_id, project=page.project)
    context = {"erasure": erasure, "rows": sorted((erasure.counts or {}).items()),
               "pending": erasure.status in (ErasureStatus.QUEUED, ErasureStatus.RUNNING)}
    response = render_page(request, page, "privacy/erasure.html", context, active="people", title="Erasure",
                           toolbar=False, charts=False)
    add_never_cache_headers(response)
    return response
