"""Rendering shared by every project page: tabs, the toolbar (range and filters) and full-page or
htmx responses (htmx requests select #page-body out of the same template, see project_base.html)."""
from __future__ import annotations

from typing import Any
from zoneinfo import ZoneInfo

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import reverse
from django.utils.cache import patch_cache_control, patch_vary_headers

from dashboards.context import FILTER_DIMENSIONS, RANGES, Page
from dashboards.selectors import filter_options, group_label

# (the `active` name a view passes, label, URL name): every tab carries the range and filters.
TABS = [("overview", "Overview", "overview"), ("cost", "Cost", "cost"), ("latency", "Latency", "latency"),
        ("quality", "Quality", "quality"), ("calls", "Calls", "calls"), ("people", "Users & sessions", "people"),
        ("settings", "Settings", "settings"), ("feedback", "Feedback", "feedback-inbox"),
        ("review", "Review", "review-queues"), ("alerts", "Alerts", "alerts"), ("drift", "Drift", "drift"),
        ("prompts", "Prompts", "prompts")]
LABELS = {"model": "Model", "provider": "Provider", "prompt_name": "Prompt", "prompt_version": "Prompt version",
          "feature": "Feature", "team": "Team", "environment": "Environment", "status": "Status"}


def render_page(request: HttpRequest, page: Page, template: str, context: dict[str, Any], *, active: str,
                title: str, toolbar: bool = True, charts: bool = True, status: int = 200) -> HttpResponse:
    tabs = [{"name": name, "label": label, "url": reverse(url, args=[page.project.id])} for name, label, url in TABS]
    base: dict[str, Any] = {"page": page, "tabs": tabs, "active": active, "title": title, "toolbar": toolbar,
                            "charts": charts, "range_error": getattr(request, "range_error", None)}
    # An htmx swap takes only #page-body out of the response: skip the toolbar's option query.
    swap = bool(getattr(request, "htmx", False)) and request.htmx.target == "page-body"  # type: ignore[attr-defined]
    if toolbar and not swap:
        options = filter_options(project_id=page.project.id)
        base["filter_fields"] = [_filter_field(page, dim, options.get(dim, []))
                                 for dim in FILTER_DIMENSIONS if len(options.get(dim, [])) > 1 or dim in page.filters]
        base["range_choices"] = [(key, label) for key, (label, _, _) in RANGES.items()]
        zone = ZoneInfo(page.tz)
        base["custom_from"] = f"{page.start.astimezone(zone):%Y-%m-%dT%H:%M}"
        base["custom_to"] = f"{page.end.astimezone(zone):%Y-%m-%dT%H:%M}"
    response = render(request, template, {**base, **context}, status=status)
    # The same URL answers a whole page or, to htmx, a body without the toolbar's choices: the
    # browser must never show the latter on Back (it would, from its cache, without these).
    patch_vary_headers(response, ["HX-Request"])
    if getattr(request, "htmx", False):
        patch_cache_control(response, no_store=True)
    return response


def _filter_field(page: Page, dim: str, offered: list[str]) -> dict[str, Any]:
    """A toolbar select: (value, label) choices and what the URL selected. Versions are offered
    with their prompt ("support-answer v2", value "support-answer@2")."""
    # What the URL says, not the parsed filters: "p@2" also filters on prompt p, yet the Prompt
    # select must stay as the user left it.
    selected = [v for v in page.params.getlist(dim) if v] if page.params is not None else page.filters.get(dim, [])
    values = sorted(set(offered) | set(selected))
    if dim == "prompt_version":
        choices = [(v, group_label(("prompt_name", "prompt_version"), v.rpartition("@")[::2]) if "@" in v
                    else v or "(none)") for v in values]
    else:
        choices = [(v, v or "(none)") for v in values]
    return {"name": dim, "label": LABELS[dim], "choices": choices, "selected": selected}
