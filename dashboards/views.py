"""The web UI. For now a home page that lists the signed-in person's projects and where to go."""
from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from tenancy.selectors import projects_for_user


@login_required
def home(request: HttpRequest) -> HttpResponse:
    projects = projects_for_user(request.user).order_by("organization__name", "name")
    return render(request, "dashboards/home.html", {"projects": projects})
