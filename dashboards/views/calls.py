"""Calls explorer: the newest calls matching the range, the global filters and the explorer's own
(user, session, tag, kind, score threshold, flag, feedback, full-text search), a page at a time,
one line per row, optionally grouped by trace. LLM calls only unless asked (kind=all shows every
span). Every filter lives in the query string, so a view is shared by copying its URL."""
from __future__ import annotations

import math
import re
from dataclasses import replace
from typing import Any
from urllib.parse import urlencode

from django.http import HttpRequest, HttpResponse, QueryDict
from django.shortcuts import render
from django.urls import NoReverseMatch, reverse
from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe

from dashboards.context import Page, project_page
from dashboards.selectors.analytics import plain_name
from dashboards.selectors.calls import (
    COUNT_CAP,
    FEEDBACK_KINDS,
    PAGE_SIZE,
    ExplorerFilters,
    calls_count,
    calls_page,
    flag_names,
    trace_totals,
)
from dashboards.views.common import render_page
from rollups.selectors import score_totals
from telemetry.models import Kind
from telemetry.selectors import InvalidCursor

# The explorer's own parameters (the range and global filters are the toolbar's).
EXPLORER_PARAMS = ["q", "user_id", "session_id", "tag", "kind", "score", "score_min", "score_max", "flag",
                   "feedback", "group"]
MAX_TEXT = 200  # longer values match nothing anyone typed; refuse them rather than search for them
DEFAULT_KIND = "llm"  # what people open the explorer for; kind=all adds agents, tools, retrievals...
ALL_KINDS = "all"
# The table's optional columns (key, label, shown by default). The choice is kept in the browser
# (explorer.js, localStorage keyed by the user's id): see docs/dashboards.md for why.
COLUMNS = [("input", "Input", False), ("output", "Output", True), ("prompt", "Prompt + version", True),
           ("scores", "Scores", False), ("flags", "Flags", True), ("comment", "Feedback comment", False),
           ("user", "User", True), ("session", "Session", False), ("tokens", "Tokens", True),
           ("cost", "Cost", True), ("latency", "Latency", True)]
_TERM = re.compile(r'(-?)"([^"]+)"|(-?)(\S+)')


def search_terms(q: str) -> list[str]:
    """The words and phrases a websearch query looks for (not the excluded ones, not OR)."""
    terms = []
    for minus_phrase, phrase, minus_word, word in _TERM.findall(q):
        text, excluded = (phrase, minus_phrase) if phrase else (word, minus_word)
        text = text.strip()
        if text and not excluded and text.lower() != "or" and re.search(r"\w", text):
            terms.append(text)
    return terms


def highlight(text: str, terms: list[str]) -> SafeString:
    """`text` escaped, with each whole-word match of a term in <mark>. The text is split around the
    matches and every piece escaped on its own, so neither the text (LLM output, untrusted) nor a
    term can inject markup, and a term never matches inside an entity such as &amp;."""
    if not text or not terms:
        return escape(text)
    pattern = re.compile(r"(?<!\w)(" + "|".join(re.escape(t) for t in sorted(terms, key=len, reverse=True))
                         + r")(?!\w)", re.IGNORECASE)
    pieces = pattern.split(text)
    # re.split with one group alternates: text, match, text, match, ...
    return mark_safe("".join(f"<mark>{escape(piece)}</mark>" if i % 2 else escape(piece)
                             for i, piece in enumerate(pieces)))


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
    kind = params.get("kind", "") or DEFAULT_KIND
    if kind == ALL_KINDS:
        kind = ""
    elif kind not in Kind.values:
        errors.append(f"Unknown kind “{kind[:40]}”; use all or one of {', '.join(Kind.values)}.")
        kind = DEFAULT_KIND
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
    terms = search_terms(filters.q)
    for row in result.rows:
        row["url"] = link("call-detail", page.project.id, row["external_id"])
        row["user_url"] = link("user-detail", page.project.id, row["user_id"]) if row["user_id"] else None
        row["session_url"] = (link("session-detail", page.project.id, row["session_id"])
                              if row["session_id"] else None)
        # A version is a prompt's ("support v2"); a bare number reads better with its "v".
        version = row["prompt_version"] or ""
        row["version_label"] = f"v{version}" if version.isdigit() else version
        row["prompt_label"] = f"{row['prompt_name']} {row['version_label']}".strip() if row["prompt_name"] else ""
        row["output_html"] = highlight(row["preview"], terms)
        row["input_html"] = highlight(row["input_preview"], terms)
    return {"calls": result.rows, "page_size": PAGE_SIZE, "cursor_errors": errors, "paged": bool(cursor),
            "older_url": f"?{page.keep(cursor=result.next_cursor)}" if result.next_cursor else None,
            "newest_url": f"?{page.keep()}", "clear_url": f"?{range_only(page)}",
            "filtered": filters.narrowed, "show_score": bool(filters.score), "scanned_to": result.scanned_to,
            "scan_budget": f"{result.searched:,}", "last_page": not cursor and result.next_cursor is None,
            "highlighted": bool(terms)}


def range_only(page: Page) -> str:
    """The query string of the range alone: where "clear filters" goes."""
    pairs = [("range", page.range_key)]
    if page.range_key == "custom" and page.params is not None:
        pairs += [("from", page.params.get("from", "")), ("to", page.params.get("to", ""))]
    return urlencode(pairs)


def _grouped(page: Page, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The page's rows under their traces, in the order each trace first appears (newest first),
    with each trace's totals over all its spans; calls without a trace stand alone."""
    totals = trace_totals(project_id=page.project.id, trace_ids=sorted({r["trace_id"] for r in rows if r["trace_id"]}))
    groups: list[dict[str, Any]] = []
    by_trace: dict[str, dict[str, Any]] = {}
    for row in rows:
        trace_id = row["trace_id"]
        if not trace_id:
            groups.append({"trace_id": "", "rows": [row]})
            continue
        if trace_id not in by_trace:
            by_trace[trace_id] = {"trace_id": trace_id, "rows": [], "url": link("trace", page.project.id, trace_id),
                                  "totals": totals.get(trace_id, {})}
            groups.append(by_trace[trace_id])
        by_trace[trace_id]["rows"].append(row)
    return groups


@project_page()
def explorer(request: HttpRequest, page: Page) -> HttpResponse:
    filters, errors = parse_explorer(request.GET, page.filters)
    table = page_of_calls(request, page, filters)
    # Suggestions for the score and flag inputs: the rollups' score names (client scores by the name
    # they were sent with, which is what the filter matches), the project's flag names.
    scores = sorted({plain_name(name) for name in score_totals(page.query(filters={}))})
    grouped = request.GET.get("group") == "trace"
    kind_value = request.GET.get("kind", "") or DEFAULT_KIND
    # The default kind is no filter the user chose: "Clear filters" shows for the others.
    chosen = replace(filters, kind="" if kind_value == DEFAULT_KIND else filters.kind or ALL_KINDS)
    context = {**table, "filter_errors": errors + table["cursor_errors"], "f": filters,
               "values": {**{name: request.GET.get(name, "") for name in EXPLORER_PARAMS}, "kind": kind_value},
               "kinds": Kind.choices, "feedback_kinds": FEEDBACK_KINDS.items(), "score_names": scores,
               "flag_names": flag_names(project_id=page.project.id), "filtered": chosen.narrowed,
               "columns": COLUMNS, "explorer": True, "grouped": grouped,
               "groups": _grouped(page, table["calls"]) if grouped else None,
               "spans_url": f"?{page.keep(kind=ALL_KINDS)}" if filters.kind == DEFAULT_KIND else None,
               "llm_url": f"?{page.keep(kind=DEFAULT_KIND)}" if not filters.kind else None,
               "group_url": f"?{page.keep(group=None if grouped else 'trace')}",
               "count_url": reverse("calls-count", args=[page.project.id]) + f"?{page.keep()}",
               **_review_context(page)}
    return render_page(request, page, "dashboards/calls.html", context, active="calls", title="Calls",
                       charts=False)


def _review_context(page: Page) -> dict[str, Any]:
    """The "add to a review queue" bar: the project's active queues, for those who may add to them.
    Imported here, not at the top: review builds on dashboards (the seam points that way), and the
    explorer only offers its queues."""
    from review.explorer import explorer_queues

    queues = explorer_queues(page)
    return {"queues": queues, "selectable": bool(queues)}


@project_page()
def count(request: HttpRequest, page: Page) -> HttpResponse:
    """The total of the explorer's current filters, loaded after the page (htmx) so a slow count
    never holds the rows back: "1,234 calls", "more than 10,000", or "many" when counting is costly."""
    filters, _ = parse_explorer(request.GET, page.filters)
    found = calls_count(project_id=page.project.id, start=page.start, end=page.end, filters=filters)
    if found is None:
        label, hint = "Many calls", "Counting these filters would take too long at this size"
    elif found > COUNT_CAP:
        label, hint = f"More than {COUNT_CAP:,} calls", ""
    else:
        label, hint = f"{found:,} call{'' if found == 1 else 's'}", ""
    return render(request, "dashboards/_calls_count.html", {"label": label, "hint": hint})
