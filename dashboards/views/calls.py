"""Calls explorer: the newest calls matching the range, the global filters and the explorer's own
(user, session, tag, kind, score threshold, flag, feedback, full-text search), a page at a time.
Every filter lives in the query string, so a view is shared by copying its URL."""
from __future__ import annotations

import math
import re
from typing import Any
from urllib.parse import urlencode

from django.http import HttpRequest, HttpResponse, QueryDict
from django.urls import NoReverseMatch, reverse

from dashboards.context import Page, project_page
from dashboards.selectors.analytics import plain_name
from dashboards.selectors.calls import FEEDBACK_KINDS, PAGE_SIZE, ExplorerFilters, calls_page, flag_names
from dashboards.views.common import render_page
from rollups.selectors import score_totals
from telemetry.models import Kind
from telemetry.selectors import InvalidCursor

# The explorer's own parameters (the range and global filters are the toolbar's).
EXPLORER_PARAMS = ["q", "user_id", "session_id", "tag", "kind", "score", "score_min", "score_max", "flag",
                   "feedback"]
MAX_TEXT = 200  # longer values match nothing anyone typed; refuse them rather than search for them


def link(name: str, *args: Any) -> str | None:
    """A URL, or None for ids the URL patterns cannot carry (a newline in a client's id)."""
    try:
        return reverse(name, args=args)
    except NoReverseMatch:
        return None


def _number(params: QueryDict, name: str, label: str, errors: list[str]) -> float | None:
    raw = params.get(name, "").strip()
    if not raw:
        return None
    try:
        value = float(raw)
    except ValueError:
        value = math.nan
    if not math.isfinite(value):
        errors.append(f"{label} must be a number, like 0.5 (got “{raw[:40]}”).")
        return None
    return value


def parse_explorer(params: QueryDict, dims: dict[str, list[str]]) -> tuple[ExplorerFilters, list[str]]:
    """The explorer's filters from the query string, and a message for each value it ignored."""
    errors: list[str] = []
    text = {}
    for name in ("q", "user_id", "session_id", "tag", "score", "flag"):
        value = params.get(name, "").strip()
        if len(value) > MAX_TEXT:
            errors.append(f"“{name}” is longer than {MAX_TEXT} characters; ignored.")
            value = ""
        text[name] = value
    if text["q"] and not re.search(r"\w", text["q"]):
        errors.append("Search needs at least one word or number.")
        text["q"] = ""
    kind = params.get("kind", "")
    if kind and kind not in Kind.values:
        errors.append(f"Unknown kind “{kind[:40]}”; use one of {', '.join(Kind.values)}.")
        kind = ""
    feedback = params.get("feedback", "")
    if feedback and feedback not in FEEDBACK_KINDS:
        errors.append(f"Unknown feedback filter “{feedback[:40]}”; use up, down or any.")
        feedback = ""
    low = _number(params, "score_min", "The minimum score", errors)
    high = _number(params, "score_max", "The maximum score", errors)
    if (low is not None or high is not None) and not text["score"]:
        errors.append("A score threshold needs a score name.")
        low = high = None
    if low is not None and high is not None and low > high:
        errors.append("The minimum score is above the maximum: nothing could match.")
    return ExplorerFilters(dims=dims, kind=kind, feedback=feedback, score_min=low, score_max=high, **text), errors


def page_of_calls(request: HttpRequest, page: Page, filters: ExplorerFilters) -> dict[str, Any]:
    """The table's context (rows and pager links), shared with the user and session pages."""
    cursor = request.GET.get("cursor") or None
    errors: list[str] = []
    try:
        result = calls_page(project_id=page.project.id, start=page.start, end=page.end, filters=filters,
                            cursor=cursor)
    except InvalidCursor:
        errors.append("That page link is not valid any more; showing the newest calls.")
        cursor = None
        result = calls_page(project_id=page.project.id, start=page.start, end=page.end, filters=filters)
    for row in result.rows:
        row["url"] = link("call-detail", page.project.id, row["external_id"])
        row["user_url"] = link("user-detail", page.project.id, row["user_id"]) if row["user_id"] else None
    return {"calls": result.rows, "page_size": PAGE_SIZE, "cursor_errors": errors, "paged": bool(cursor),
            "older_url": f"?{page.keep(cursor=result.next_cursor)}" if result.next_cursor else None,
            "newest_url": f"?{page.keep()}", "clear_url": f"?{range_only(page)}",
            "filtered": filters.narrowed, "show_score": bool(filters.score), "scanned_to": result.scanned_to,
            "scan_budget": f"{result.searched:,}"}


def range_only(page: Page) -> str:
    """The query string of the range alone: where "clear filters" goes."""
    pairs = [("range", page.range_key)]
    if page.range_key == "custom" and page.params is not None:
        pairs += [("from", page.params.get("from", "")), ("to", page.params.get("to", ""))]
    return urlencode(pairs)


@project_page()
def explorer(request: HttpRequest, page: Page) -> HttpResponse:
    filters, errors = parse_explorer(request.GET, page.filters)
    table = page_of_calls(request, page, filters)
    # Suggestions for the score and flag inputs: the rollups' score names (client scores by the name
    # they were sent with, which is what the filter matches), the project's flag names.
    scores = sorted({plain_name(name) for name in score_totals(page.query(filters={}))})
    context = {**table, "filter_errors": errors + table["cursor_errors"], "f": filters,
               "values": {name: request.GET.get(name, "") for name in EXPLORER_PARAMS},
               "kinds": Kind.choices, "feedback_kinds": FEEDBACK_KINDS.items(), "score_names": scores,
               "flag_names": flag_names(project_id=page.project.id)}
    return render_page(request, page, "dashboards/calls.html", context, active="calls", title="Calls",
                       charts=False)
