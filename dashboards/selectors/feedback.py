"""Reads of the feedback inbox: every end-user comment of a range, newest first, narrowed by thumbs,
rating and the toolbar's filters on the call it is about (model, feature, prompt version, ...), a
keyset page at a time on (created_at, id) through feedback_project_time. Nothing counts the range.

Filters on the call are checked comment by comment (a join per row), so one that matches nothing
would walk every comment of the range. Such a page searches at most SCAN_BUDGET comments, then
says how far back it looked and offers to go on from there, as the calls explorer does."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.db.models import Q

from telemetry.models import Feedback
from telemetry.selectors import decode_cursor, encode_cursor

INBOX_PAGE = 50
SCAN_BUDGET = 20_000  # comments a page may check against filters on their call
THUMBS = {"up": 1, "down": -1}


@dataclass(frozen=True)
class InboxFilters:
    dims: dict[str, list[str]]  # the toolbar's filters, on the call
    thumbs: str = ""  # a THUMBS key
    rating: int | None = None  # 1..5


@dataclass(frozen=True)
class InboxPage:
    rows: list[dict[str, Any]]
    next_cursor: str | None
    # Set when the page stopped at the scan budget: the time of the last comment searched (older
    # ones may still match, from next_cursor on), and how many comments the budget allowed.
    scanned_to: datetime | None = None
    searched: int = 0


def inbox_page(*, project_id: int, start: datetime, end: datetime, filters: InboxFilters,
               cursor: str | None = None, limit: int | None = None) -> InboxPage:
    """Comments newest first. Raises telemetry.selectors.InvalidCursor for a cursor it did not make."""
    limit = limit or INBOX_PAGE
    qs = Feedback.objects.filter(project_id=project_id, created_at__gte=start, created_at__lt=end).exclude(comment="")
    if filters.thumbs:
        qs = qs.filter(thumbs=THUMBS[filters.thumbs])
    if filters.rating is not None:
        qs = qs.filter(rating=filters.rating)
    if cursor:
        when, ident = decode_cursor(cursor)
        qs = qs.filter(Q(created_at__lt=when) | Q(created_at=when, id__lt=ident), created_at__lte=when)
    qs = qs.order_by("-created_at", "-id")
    floor = None
    if filters.dims:
        # The created_at of the last comment the budget allows (one walk of the index, no join).
        found = list(qs.values_list("created_at", flat=True)[SCAN_BUDGET - 1:SCAN_BUDGET])
        floor = found[0] if found else None
        qs = qs.filter(**{f"call__{dim}__in": values for dim, values in filters.dims.items()})
        if floor is not None:
            qs = qs.filter(created_at__gte=floor)
    rows = list(qs.values(
        "id", "created_at", "thumbs", "rating", "comment", "end_user_id", "call_external_id",
        "call__model", "call__feature", "call__prompt_name", "call__prompt_version", "call__user_id")[: limit + 1])
    if len(rows) > limit:
        rows = rows[:limit]
        return InboxPage(rows=rows, next_cursor=encode_cursor({"start_time": rows[-1]["created_at"], "id": rows[-1]["id"]}))
    if floor is not None:  # the budget ran out first: go on with the comments older than `floor`
        return InboxPage(rows=rows, next_cursor=encode_cursor({"start_time": floor, "id": 0}), scanned_to=floor,
                         searched=SCAN_BUDGET)
    return InboxPage(rows=rows, next_cursor=None)
