"""Adding calls to a review queue from the calls explorer: the rows someone ticked, or every call
matching the explorer's current filters (range, global filters, search, flags, ...), walked a batch
at a time with the explorer's own keyset pages so the browser can show progress between batches
and no request holds a transaction over thousands of calls."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.dateparse import parse_datetime
from django.views.decorators.http import require_POST

from dashboards.context import Page, project_page
from dashboards.selectors.calls import ExplorerFilters, calls_page
from dashboards.views.calls import parse_explorer
from review import services
from review.access import can_review
from review.errors import ReviewError
from review.models import Queue
from telemetry.selectors import InvalidCursor

MATCHING_BATCH = 500  # calls per step: one items_add (it takes at most 1,000) per request
MATCHING_MAX = 10_000  # one "add all matching" stops here; narrow the filters to go further
SELECTED_MAX = 1_000  # ticked rows come from pages of 50; items_add's own limit


def explorer_queues(page: Page) -> list[Queue]:
    """The queues the explorer offers: the project's active ones, to those who may add (members up)."""
    if not can_review(page.role):
        return []
    return list(Queue.objects.filter(project=page.project, active=True).only("id", "name").order_by("name"))


@dataclass(frozen=True)
class Step:
    added: int  # new items (calls already in the queue are not added twice)
    seen: int  # matching calls walked in this step
    next_cursor: str | None  # where the next step continues; None when the range is exhausted
    scanned_to: datetime | None  # how far back this step searched, when a budget stopped it


def matching_add_step(*, queue: Queue, start: datetime, end: datetime, filters: ExplorerFilters,
                      cursor: str | None, actor: Any, batch: int = MATCHING_BATCH) -> Step:
    """One batch of the calls matching `filters`, newest first from `cursor`, added to `queue`."""
    result = calls_page(project_id=queue.project_id, start=start, end=end, filters=filters, cursor=cursor,
                        limit=batch, decorate=False)
    ids = [row["external_id"] for row in result.rows]
    added = services.items_add(queue=queue, call_ids=ids, actor=actor) if ids else 0
    return Step(added=added, seen=len(ids), next_cursor=result.next_cursor, scanned_to=result.scanned_to)


def _number(raw: str) -> int:
    return int(raw) if raw.isdigit() else 0


def _back(page: Page, request: HttpRequest) -> HttpResponse:
    return redirect(reverse("calls", args=[page.project.id]) + "?" + request.GET.urlencode())


@require_POST
@project_page()
def add(request: HttpRequest, page: Page) -> HttpResponse:
    """POST from the explorer's queue bar. `scope=selected` adds the ticked rows (call_ids);
    `scope=matching` adds one batch of the calls matching the filters in the query string and,
    through htmx, answers with the progress and a form that asks for the next batch at once."""
    if not can_review(page.role):
        raise PermissionDenied("Viewers read queues; members, admins and owners add calls to them.")
    queue_id = request.POST.get("queue", "")
    queue = Queue.objects.filter(project=page.project, active=True, pk=_number(queue_id)).first()
    htmx = bool(getattr(request, "htmx", False))
    context: dict[str, Any] = {"queue": queue, "page": page}
    if queue is None:
        context["error"] = "Choose a queue."
    elif request.POST.get("scope") == "matching":
        return _matching(request, page, queue, htmx)
    else:
        ids = [i for i in request.POST.getlist("call_ids") if i][:SELECTED_MAX]
        if not ids:
            context["error"] = "Tick the calls to add first."
        else:
            try:
                added = services.items_add(queue=queue, call_ids=ids, actor=request.user)
                context.update(done=True, added=added, seen=len(ids), selected=True)
            except ReviewError as exc:
                context["error"] = f"{exc.field}: {exc.message}"
    if not htmx:
        _message(request, context)
        return _back(page, request)
    return render(request, "dashboards/_calls_queue_result.html", context)


def _matching(request: HttpRequest, page: Page, queue: Queue, htmx: bool) -> HttpResponse:
    filters, _ = parse_explorer(request.GET, page.filters)
    # The range is frozen by the first step: "last 24 hours" must not slide between batches.
    start = parse_datetime(request.POST.get("start", "")) or page.start
    end = parse_datetime(request.POST.get("end", "")) or page.end
    cursor = request.POST.get("cursor") or None
    added, seen = _number(request.POST.get("added", "")), _number(request.POST.get("seen", ""))
    step: Step | None = None
    try:
        while True:  # one step with htmx (the browser asks for the next); all of them without
            step = matching_add_step(queue=queue, start=start, end=end, filters=filters, cursor=cursor,
                                     actor=request.user, batch=min(MATCHING_BATCH, MATCHING_MAX - seen))
            added, seen, cursor = added + step.added, seen + step.seen, step.next_cursor
            if htmx or cursor is None or seen >= MATCHING_MAX:
                break
    except (InvalidCursor, ReviewError) as exc:
        context: dict[str, Any] = {"queue": queue, "page": page, "error": str(exc)}
        if not htmx:
            _message(request, context)
            return _back(page, request)
        return render(request, "dashboards/_calls_queue_result.html", context)
    capped = cursor is not None and seen >= MATCHING_MAX
    context = {"queue": queue, "page": page, "added": added, "seen": seen, "capped": capped,
               "done": cursor is None or capped, "cap": MATCHING_MAX,
               "scanned_to": step.scanned_to if step else None,
               "next": {"queue": queue.id, "scope": "matching", "cursor": cursor or "", "added": added,
                        "seen": seen, "start": start.isoformat(), "end": end.isoformat()},
               "action": f"{request.path}?{request.GET.urlencode()}"}
    if not htmx:
        _message(request, context)
        return _back(page, request)
    return render(request, "dashboards/_calls_queue_result.html", context)


def _message(request: HttpRequest, context: dict[str, Any]) -> None:
    if context.get("error"):
        messages.error(request, context["error"])
        return
    queue = context["queue"]
    text = f"Added {context['added']:,} of {context['seen']:,} calls to {queue.name}"
    if context.get("capped"):
        text += f" (stopped at {context['cap']:,}; narrow the filters to add more)"
    messages.success(request, text + "; the others were already in it." if context["added"] < context["seen"]
                     else text + ".")

