"""Reads of the calls explorer: one page of calls, newest first, matching the global and explorer
filters, and what its rows show (output preview, flags, feedback, the filtered score) in one query
each, so a page costs the same number of queries for 5 rows as for 50.

Built to stay fast at millions of calls: the page walks call_project_time (project, -start_time,
-id) inside the range, keyset-paginated on (start_time, id) with telemetry's cursor format, and
stops at the page size. Score, flag and feedback filters are EXISTS semi-joins, probed per call
through score_call_name, flag_call_name_unique and feedback_call (or driven from the smaller side
when the planner finds that cheaper). Nothing counts the range: the page says "50 per page",
never "of 1,234,567".

A filter checked row by row (a tag, a status, a flag, ...) that matches nothing would walk the
whole range: 34 s over 10M calls for an absent tag. So such pages search at most SCAN_BUDGET
calls of the range (newest first from the cursor) and, when they stop there, say how far back
they looked and offer to continue from that point. A search first asks the search index
(callpayload_search, plus the few payloads not indexed yet) for its matches: up to SEARCH_HITS of them are looked up by id, whatever the range;
commoner words are checked call by call (EXISTS on the payload) with a smaller budget.
"""
from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from django.db import OperationalError, connection, transaction
from django.db.models import BooleanField, Count, Exists, Max, Min, OuterRef, Q, QuerySet, Sum
from django.db.models.expressions import RawSQL
from django.db.models.functions import Coalesce, Left

from quality.models import Flag
from telemetry.models import Call, CallPayload, Feedback, Score
from telemetry.selectors import decode_cursor, encode_cursor

PAGE_SIZE = 50
# Measured on 10M calls, 2 busy cores: walking 50,000 calls with a feedback probe took ~230 ms.
SCAN_BUDGET = 30_000  # calls a page may walk when a filter is checked call by call
SEARCH_BUDGET = 2_000  # the same with a search: each call's payload is probed by primary key
SEARCH_HITS = 2_000  # searches matching at most this many payloads look those calls up directly (~25 ms)
PREVIEW_CHARS = 500  # a row shows one line of it; the rest is on hover and when the row is expanded
# The total of a list is counted up to COUNT_CAP calls ("more than 10,000" beyond) and for at most
# COUNT_TIMEOUT_MS: a rare filter checked call by call would otherwise count the whole range.
COUNT_CAP = 10_000
COUNT_TIMEOUT_MS = 300
ROW_FIELDS = ["id", "external_id", "trace_id", "kind", "name", "start_time", "latency_ms", "provider", "model",
              "status", "error_type", "input_tokens", "output_tokens", "total_tokens", "cost_total_usd",
              "cost_source", "prompt_name", "prompt_version", "feature", "user_id", "session_id"]
FEEDBACK_KINDS = {"up": "Thumbs up", "down": "Thumbs down", "any": "Any feedback"}
_FEEDBACK_Q = {"up": Q(thumbs=1), "down": Q(thumbs=-1), "any": Q()}
# The stored vector (GIN index callpayload_search) for indexed payloads; payloads the background
# indexer has not reached yet (seconds behind ingest, partial index callpayload_unindexed) are
# checked with the same function the indexer uses. The planner ORs the two index scans;
# tests/dashboards/test_calls.py checks it with EXPLAIN. Columns are unqualified because Django
# aliases the subquery's table (U0); telemetry_call has no such columns. Takes the query twice.
SEARCH_SQL = ("(search @@ websearch_to_tsquery('simple', %s) OR (search IS NULL"
              " AND obs_payload_search(input, output) @@ websearch_to_tsquery('simple', %s)))")


def _search_match(q: str) -> RawSQL:
    return RawSQL(SEARCH_SQL, [q, q], output_field=BooleanField())
# What the table shows of an output: the text of a string, of the last chat message, or of a
# {"content": ...} object; JSON text otherwise. Cut in the database so megabytes never travel.
PREVIEW_SQL = f"""left(CASE jsonb_typeof(output)
    WHEN 'string' THEN output #>> '{{}}'
    WHEN 'array' THEN coalesce(output -> -1 ->> 'content', output -> -1 #>> '{{}}')
    WHEN 'object' THEN coalesce(output ->> 'content', output ->> 'text', output::text)
    ELSE output::text END, {PREVIEW_CHARS + 1})"""
# The same for an input: the text of a string, of the last user message (the question), or JSON text.
INPUT_PREVIEW_SQL = f"""left(CASE jsonb_typeof(input)
    WHEN 'string' THEN input #>> '{{}}'
    WHEN 'array' THEN coalesce(jsonb_path_query_array(input, '$[*] ? (@.role == "user").content') -> -1 #>> '{{}}',
                               input -> -1 ->> 'content', input -> -1 #>> '{{}}')
    WHEN 'object' THEN coalesce(input ->> 'content', input ->> 'text', input::text)
    ELSE input::text END, {PREVIEW_CHARS + 1})"""


@dataclass(frozen=True)
class ExplorerFilters:
    """Everything a list of calls can be narrowed by. `dims` are the global (rollup) filters."""

    dims: dict[str, list[str]] = field(default_factory=dict)
    user_id: str = ""
    session_id: str = ""
    tag: str = ""
    kind: str = ""
    score: str = ""
    score_min: float | None = None
    score_max: float | None = None
    flag: str = ""
    feedback: str = ""  # a FEEDBACK_KINDS key
    q: str = ""

    @property
    def narrowed(self) -> bool:
        return bool(self.dims or self.user_id or self.session_id or self.tag or self.kind or self.score
                    or self.flag or self.feedback or self.q)


@dataclass(frozen=True)
class CallsPage:
    rows: list[dict[str, Any]]
    next_cursor: str | None
    # Set when the page stopped at the scan budget rather than at the end of the range: the
    # start time of the last call searched (older calls may still match, from next_cursor on),
    # and how many calls the budget allowed.
    scanned_to: datetime | None = None
    searched: int = 0


def _driving(f: ExplorerFilters) -> ExplorerFilters | None:
    """The filters an index walks in time order returning only matches (user, session, one
    model), or None when every filter is one of those: then no page can walk in vain."""
    one_model = {dim: values for dim, values in f.dims.items() if dim == "model" and len(values) == 1}
    driving = ExplorerFilters(dims=one_model, user_id=f.user_id, session_id=f.session_id)
    return None if driving == f else driving


def _filtered(project_id: int, start: datetime, end: datetime, f: ExplorerFilters,
              hits: list[int] | None = None) -> QuerySet[Call]:
    qs: QuerySet[Call] = Call.objects.filter(project_id=project_id, start_time__gte=start, start_time__lt=end)
    qs = qs.filter(**{f"{dim}__in": values for dim, values in f.dims.items()})
    exact = {"user_id": f.user_id, "session_id": f.session_id, "kind": f.kind}
    qs = qs.filter(**{name: value for name, value in exact.items() if value})
    if f.tag:
        qs = qs.filter(tags__contains=[f.tag])
    if f.score:
        scores = Score.objects.filter(call_id=OuterRef("id"), name=f.score)
        if f.score_min is not None:
            scores = scores.filter(value__gte=f.score_min)
        if f.score_max is not None:
            scores = scores.filter(value__lte=f.score_max)
        qs = qs.filter(Exists(scores))
    if f.flag:
        qs = qs.filter(Exists(Flag.objects.filter(call_id=OuterRef("id"), name=f.flag)))
    if f.feedback:
        qs = qs.filter(Exists(Feedback.objects.filter(_FEEDBACK_Q[f.feedback], call_id=OuterRef("id"))))
    if f.q and hits is not None:
        qs = qs.filter(id__in=hits)
    elif f.q:
        qs = qs.filter(Exists(CallPayload.objects.filter(_search_match(f.q), call_id=OuterRef("id"))))
    return qs


def calls_queryset(*, project_id: int, start: datetime, end: datetime, filters: ExplorerFilters,
                   cursor: str | None = None, floor: datetime | None = None,
                   hits: list[int] | None = None) -> QuerySet[Call]:
    """The calls of a page and after it, newest first (unsliced, so tests can EXPLAIN it), none
    older than `floor`; `hits` replaces the search by these call ids. Raises
    telemetry.selectors.InvalidCursor for a cursor this code did not make."""
    qs = _filtered(project_id, start, end, filters, hits)
    if cursor:
        when, ident = decode_cursor(cursor)
        # The redundant `start_time <= when` bounds the index scan; the OR alone would be a filter.
        qs = qs.filter(Q(start_time__lt=when) | Q(start_time=when, id__lt=ident), start_time__lte=when)
    if floor:
        # A plain bound, no (start_time, id) OR: the planner misjudges such an OR next to a bound
        # of the same column (270 rows instead of 50,000) and chose a 28 s plan at 10M calls.
        qs = qs.filter(start_time__gte=floor)
    return qs.order_by("-start_time", "-id")


def _search_hits(q: str) -> list[int] | None:
    """The calls whose payload matches, when there are at most SEARCH_HITS of them (all projects:
    payloads carry no project): then the page looks up those calls instead of walking the range.
    None for commoner words, which a walk of the newest calls finds soon enough."""
    found = list(CallPayload.objects.filter(_search_match(q))
                 .values_list("call_id", flat=True)[:SEARCH_HITS + 1])
    return found if len(found) <= SEARCH_HITS else None


def _floor(project_id: int, start: datetime, end: datetime, filters: ExplorerFilters, cursor: str | None,
           budget: int) -> datetime | None:
    """The start time of the oldest call a page may search, or None when the filters need no
    budget or fewer calls than the budget remain: one walk of `budget` index entries
    (call_project_time, or the user, session or model index when those filters are set)."""
    driving = _driving(filters)
    if driving is None:
        return None
    qs = calls_queryset(project_id=project_id, start=start, end=end, filters=driving, cursor=cursor)
    found = list(qs.values_list("start_time", flat=True)[budget - 1:budget])
    return found[0] if found else None


def calls_page(*, project_id: int, start: datetime, end: datetime, filters: ExplorerFilters,
               cursor: str | None = None, limit: int = PAGE_SIZE, decorate: bool = True) -> CallsPage:
    """A page of calls, newest first; `cursor` (from a previous page) continues after its last row.
    `decorate=False` leaves out what only the table shows (previews, flags, scores, feedback)."""
    hits = _search_hits(filters.q) if filters.q else None
    # A short list of search hits bounds the page by itself; otherwise walking filters get a budget
    # (a small one with a search: checking a payload against the query costs ~0.1 ms).
    budget = SEARCH_BUDGET if filters.q else SCAN_BUDGET
    floor = None if hits is not None else _floor(project_id, start, end, filters, cursor, budget)
    qs = calls_queryset(project_id=project_id, start=start, end=end, filters=filters, cursor=cursor,
                        floor=floor, hits=hits)
    rows = list(qs.values(*ROW_FIELDS, error_preview=Left("error_message", 200))[: limit + 1])
    if len(rows) > limit:
        page = CallsPage(rows=rows[:limit], next_cursor=encode_cursor(rows[limit - 1]))
    elif floor:  # the budget ran out first: continue with the calls older than `floor` (id 0: all of them)
        page = CallsPage(rows=rows, next_cursor=encode_cursor({"start_time": floor, "id": 0}), scanned_to=floor,
                         searched=budget)
    else:
        page = CallsPage(rows=rows, next_cursor=None)
    if decorate:
        _decorate(page.rows, score=filters.score)
    return page


def _cut(text: str | None) -> str:
    return (text[:PREVIEW_CHARS] + "…") if text and len(text) > PREVIEW_CHARS else (text or "")


def _decorate(rows: list[dict[str, Any]], *, score: str) -> None:
    """Adds input and output previews, flags, scores, thumbs up/down and the latest feedback
    comment to each row: one query each, whatever the number of rows."""
    ids = [row["id"] for row in rows]
    if not ids:
        return
    previews = {call_id: (output, text_in) for call_id, output, text_in in CallPayload.objects.filter(
        call_id__in=ids).annotate(preview=RawSQL(PREVIEW_SQL, []), input_preview=RawSQL(INPUT_PREVIEW_SQL, []))
        .values_list("call_id", "preview", "input_preview")}
    flags: dict[int, list[dict[str, str]]] = defaultdict(list)
    for call_id, name, severity in (Flag.objects.filter(call_id__in=ids).order_by("name")
                                    .values_list("call_id", "name", "severity")):
        flags[call_id].append({"name": name, "severity": severity})
    thumbs: dict[int, dict[str, int]] = defaultdict(lambda: {"up": 0, "down": 0})
    comments: dict[int, str] = {}
    for call_id, value, comment in (Feedback.objects.filter(call_id__in=ids)
                                    .filter(Q(thumbs__isnull=False) | ~Q(comment=""))
                                    .order_by("created_at", "id").values_list("call_id", "thumbs", "comment")):
        if value:
            thumbs[call_id]["up" if value > 0 else "down"] += 1
        if comment:
            comments[call_id] = comment  # the latest wins
    scores: dict[int, list[float]] = defaultdict(list)
    all_scores: dict[int, list[tuple[str, float]]] = defaultdict(list)
    for call_id, name, value in (Score.objects.filter(call_id__in=ids, value__isnull=False).order_by("name", "id")
                                 .values_list("call_id", "name", "value")):
        all_scores[call_id].append((name, value))
        if score and name == score:
            scores[call_id].append(value)
    for row in rows:
        output, text_in = previews.get(row["id"], (None, None))
        row["preview"] = _cut(output)
        row["input_preview"] = _cut(text_in)
        row["flags"] = flags.get(row["id"], [])
        row["thumbs"] = thumbs.get(row["id"], {"up": 0, "down": 0})
        row["comment"] = _cut(comments.get(row["id"]))
        row["scores"] = all_scores.get(row["id"], [])
        row["score_values"] = scores.get(row["id"], [])


def calls_count(*, project_id: int, start: datetime, end: datetime, filters: ExplorerFilters,
                cap: int = COUNT_CAP) -> int | None:
    """How many calls match, up to cap + 1 (the caller says "more than cap"), or None when counting
    would cost too much: a common search word (every payload probed), or a count still running
    after COUNT_TIMEOUT_MS (a rare filter checked call by call over a long range)."""
    hits = _search_hits(filters.q) if filters.q else None
    if filters.q and hits is None:
        return None
    qs = calls_queryset(project_id=project_id, start=start, end=end, filters=filters, hits=hits)
    try:
        with transaction.atomic(), connection.cursor() as cur:
            # Local to this savepoint's transaction, and put back after: the page's other queries
            # keep the connection's own limit.
            cur.execute("SELECT current_setting('statement_timeout')")
            (previous,) = cur.fetchone()
            cur.execute("SELECT set_config('statement_timeout', %s, true)", [str(COUNT_TIMEOUT_MS)])
            found = qs[: cap + 1].count()
            cur.execute("SELECT set_config('statement_timeout', %s, true)", [previous])
            return found
    except OperationalError:  # canceled by the timeout; the savepoint's rollback restores the limit
        return None


def trace_totals(*, project_id: int, trace_ids: list[str]) -> dict[str, dict[str, Any]]:
    """Each trace's spans, tokens, cost, errors and duration, for the explorer's "group by trace"
    mode: one grouped query through call_project_trace over the traces of one page."""
    if not trace_ids:
        return {}
    rows = (Call.objects.filter(project_id=project_id, trace_id__in=trace_ids).values("trace_id")
            .annotate(spans=Count("id"), tokens=Sum("total_tokens"), cost=Sum("cost_total_usd"),
                      errors=Count("id", filter=Q(status="error")), first=Min("start_time"),
                      last=Max(Coalesce("end_time", "start_time"))))
    return {row["trace_id"]: {**row, "duration_ms": (row["last"] - row["first"]).total_seconds() * 1000}
            for row in rows}


def flag_names(*, project_id: int) -> list[str]:
    """Distinct flag names of a project for the filter's suggestions: a loose index scan of
    flag_project_name_time (one probe per name), not a scan of every flag."""
    with connection.cursor() as cur:
        cur.execute(
            "WITH RECURSIVE names(name) AS ("
            " (SELECT name FROM quality_flag WHERE project_id = %s ORDER BY name LIMIT 1)"
            " UNION ALL SELECT (SELECT f.name FROM quality_flag f WHERE f.project_id = %s AND f.name > names.name"
            "  ORDER BY f.name LIMIT 1) FROM names WHERE names.name IS NOT NULL)"
            " SELECT name FROM names WHERE name IS NOT NULL LIMIT 200", [project_id, project_id])
        return [name for (name,) in cur.fetchall()]
