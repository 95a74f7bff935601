"""Landing: the project you used last (or your first), the switcher's target, and the getting-started
page a new project shows until its first event arrives."""
from __future__ import annotations

from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render

from dashboards.context import Page, project_page
from dashboards.views.common import render_page
from tenancy.selectors import organizations_creating_projects, projects_for_user
from tenancy.services import project_create

MAX_NAME = 100

LAST_PROJECT = "obs_last_project"


@login_required
def home(request: HttpRequest) -> HttpResponse:
    projects = projects_for_user(request.user).order_by("organization__name", "name")
    last = request.session.get(LAST_PROJECT)
    chosen = projects.filter(pk=last).first() if last else None
    chosen = chosen or projects.first()
    if chosen is not None:
        return redirect("overview", chosen.id)
    return render(request, "dashboards/no_projects.html",
                  {"can_create": organizations_creating_projects(request.user).exists()})


@login_required
def project_new(request: HttpRequest) -> HttpResponse:
    """A new project in an organization the person owns or administers; then its getting-started page."""
    organizations = list(organizations_creating_projects(request.user))
    if not organizations:
        return render(request, "dashboards/project_new.html", {"forbidden": True}, status=403)
    errors: dict[str, str] = {}
    name = request.POST.get("name", "").strip()
    chosen = request.POST.get("organization", "")
    if request.method == "POST":
        organization = next((o for o in organizations if str(o.pk) == chosen), None)
        if not name or len(name) > MAX_NAME:
            errors["name"] = f"A name of 1 to {MAX_NAME} characters."
        if organization is None:
            errors["organization"] = "Choose one of your organizations."
        if not errors:
            project = project_create(organization=organization, name=name, actor=request.user)
            request.session[LAST_PROJECT] = project.pk
            return redirect("start", project.pk)
    return render(request, "dashboards/project_new.html",
                  {"organizations": organizations, "name": name, "chosen": chosen, "errors": errors},
                  status=400 if errors else 200)


@login_required
def switch(request: HttpRequest) -> HttpResponse:
    raw = request.GET.get("project", "")
    project = projects_for_user(request.user).filter(pk=int(raw)).first() if raw.isdigit() else None
    if project is None:
        return redirect("home")
    return redirect("overview", project.id)


def start_context(page: Page) -> dict[str, object]:
    base = settings.SITE_URL
    return {"site": base, "ingest_url": f"{base}/api/v1/ingest", "otlp_url": f"{base}/v1/traces",
            "project": page.project}


@project_page()
def start(request: HttpRequest, page: Page) -> HttpResponse:
    return render_page(request, page, "dashboards/start.html", start_context(page), active="overview",
                       title="Send your first event", toolbar=False, charts=False)
