"""Feedback inbox: every end-user comment of the range, filterable by thumbs or rating and by the
toolbar's model, feature and prompt version, each linking to its call; paged, newest first."""
from __future__ import annotations

from typing import Any

from django.http import HttpRequest, HttpResponse

from dashboards.context import Page, project_page
from dashboards.selectors.feedback import INBOX_PAGE, THUMBS, InboxFilters, inbox_page
from dashboards.views.calls import link, range_only
from dashboards.views.common import render_page
from telemetry.selectors import InvalidCursor

RATINGS = ["1", "2", "3", "4", "5"]


def _filters(page: Page, request: HttpRequest, errors: list[str]) -> InboxFilters:
    thumbs = request.GET.get("thumbs", "")
    if thumbs and thumbs not in THUMBS:
        errors.append(f"Unknown thumbs filter “{thumbs[:40]}”; use up or down.")
        thumbs = ""
    rating = request.GET.get("rating", "")
    if rating and rating not in RATINGS:
        errors.append(f"A rating is 1 to 5 (got “{rating[:40]}”).")
        rating = ""
    return InboxFilters(dims=page.filters, thumbs=thumbs, rating=int(rating) if rating else None)


@project_page()
def inbox(request: HttpRequest, page: Page) -> HttpResponse:
    errors: list[str] = []
    filters = _filters(page, request, errors)
    cursor = request.GET.get("cursor") or None
    try:
        result = inbox_page(project_id=page.project.id, start=page.start, end=page.end, filters=filters, cursor=cursor)
    except InvalidCursor:
        errors.append("That page link is not valid any more; showing the newest comments.")
        cursor = None
        result = inbox_page(project_id=page.project.id, start=page.start, end=page.end, filters=filters)
    for row in result.rows:
        row["url"] = link("call-detail", page.project.id, row["call_external_id"])
    context: dict[str, Any] = {
        "comments": result.rows, "errors": errors, "scanned_to": result.scanned_to,
        "scan_budget": f"{result.searched:,}", "page_size": INBOX_PAGE, "paged": bool(cursor),
        "older_url": f"?{page.keep(cursor=result.next_cursor)}" if result.next_cursor else None,
        "newest_url": f"?{page.keep()}", "clear_url": f"?{range_only(page)}",
        "filtered": bool(filters.dims or filters.thumbs or filters.rating),
        "values": {"thumbs": filters.thumbs, "rating": str(filters.rating or "")}, "ratings": RATINGS,
    }
    return render_page(request, page, "dashboards/feedback.html", context, active="feedback",
                       title="Feedback", charts=False)
