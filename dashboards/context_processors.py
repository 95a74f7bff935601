"""Template context for every page: the signed-in person's projects, for the switcher."""
from __future__ import annotations

from typing import Any

from django.http import HttpRequest
from django.utils.functional import SimpleLazyObject

from tenancy.selectors import projects_for_user


def nav(request: HttpRequest) -> dict[str, Any]:
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {}
    # Lazy: pages that do not draw the switcher (API, admin) pay nothing.
    return {"nav_projects": SimpleLazyObject(
        lambda: list(projects_for_user(user).order_by("organization__name", "name")))}
