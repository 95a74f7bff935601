"""Calls explorer: every filter narrows, search is indexed, keyset pages keep the filters and never
overlap, queries stay constant, call data is escaped."""
from __future__ import annotations

import hashlib
import html as htmllib
import re
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone as djtz

from dashboards.selectors.calls import PREVIEW_CHARS, SEARCH_SQL, ExplorerFilters, calls_queryset
from quality.models import Flag
from telemetry.models import Call
from telemetry.services import project_process
from tests.dashboards.conftest import recent


def cid(i: int) -> str:
    return "xss-call" if i == 1 else f"c-{i}"


def explore(client: Client, project: Any, query: str = "") -> tuple[str, list[str]]:
    response = client.get(f"/projects/{project.id}/calls/?{query}")
    assert response.status_code == 200
    page = response.content.decode()
    return page, re.findall(r'data-testid="call-row" data-call="([^"]+)"', page)


def older_link(page: str) -> str | None:
    match = re.search(r'href="([^"]+)" rel="next" data-testid="older"', page)
    return htmllib.unescape(match.group(1)) if match else None


def ingest(full_api: Any, project: Any, events: list[dict[str, Any]]) -> None:
    assert full_api.ingest(events).status_code == 202
    while project_process(project_id=project.id):
        pass


def test_it_lists_the_range_newest_first(owner_client: Client, seeded: Any) -> None:
    page, rows = explore(owner_client, seeded, "range=24h&kind=all")
    expected = list(Call.objects.filter(project_id=seeded.id).order_by("-start_time", "-id")
                    .values_list("external_id", flat=True))
    assert rows == expected and len(rows) == 43
    assert "50 calls per page" in page and older_link(page) is None
    assert 'href="/projects/%d/calls/c-0?range=24h"' % seeded.id in page  # each row links to its detail
    _, last_hour = explore(owner_client, seeded, "range=1h&kind=all")
    assert set(last_hour) == {"c-0", "xss-call", "agent-root", "agent-retrieve", "agent-llm"}


def test_llm_calls_only_by_default_with_spans_one_click_away(owner_client: Client, seeded: Any) -> None:
    page, rows = explore(owner_client, seeded, "range=1h")
    assert set(rows) == {"c-0", "xss-call", "agent-llm"}
    spans = re.search(r'href="([^"]+)" data-testid="show-spans"', page).group(1)
    _, everything = explore(owner_client, seeded, htmllib.unescape(spans).lstrip("?"))
    assert set(everything) == {"c-0", "xss-call", "agent-root", "agent-retrieve", "agent-llm"}
    assert 'data-testid="clear-filters-top"' not in page  # the default kind is not a filter to clear


@pytest.mark.parametrize("query, expected", [
    ("model=house-model", {cid(i) for i in range(40) if i % 3 == 2}),
    ("status=error", {cid(i) for i in (3, 11, 19, 27, 35)}),
    ("feature=search", {cid(i) for i in range(0, 40, 4)}),
    ("prompt_version=v2&provider=anthropic", {cid(i) for i in range(40) if i % 2 and i % 3 == 1}),
    ("user_id=user-0", {cid(i) for i in range(0, 40, 5)}),
    ("session_id=s-3", {cid(i) for i in range(40) if i % 7 == 3}),
    ("tag=beta", {"c-0", "c-10", "c-20", "c-30"}),
    ("kind=retrieval", {"agent-retrieve"}),
    ("feedback=down", {"c-0", "c-12", "c-24", "c-36"}),
    ("feedback=up", {cid(i) for i in range(0, 40, 4) if i % 3}),
    ("feedback=any", {cid(i) for i in range(0, 40, 4)}),
    ("score=helpfulness&score_min=0.75", {cid(i) for i in range(0, 40, 3) if 0.2 + (i % 5) / 5 >= 0.75}),
    ("score=helpfulness&score_max=0.3", {"c-0", "c-15", "c-30"}),
    ("score=helpfulness", {cid(i) for i in range(0, 40, 3)}),
    ("q=number+7", {"c-7"}),
    ("q=%22Question+12%22", {"c-12"}),  # a phrase, found in the input
    ("q=customer", {"agent-llm"}),
    ("q=answer+-number", set()),
    ("status=error&user_id=user-3", {"c-3"}),
])
def test_each_filter_narrows(owner_client: Client, seeded: Any, query: str, expected: set[str]) -> None:
    page, rows = explore(owner_client, seeded, f"range=24h&{query}")
    assert set(rows) == expected and len(rows) == len(expected)
    assert 'data-testid="filter-errors"' not in page


@pytest.mark.parametrize("hits", [5000, 1])
def test_search_finds_the_same_calls_by_lookup_and_by_walk(owner_client: Client, seeded: Any, hits: int,
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    # At most SEARCH_HITS matching payloads are looked up by id; more ("number" is in 38 outputs)
    # switch to walking the newest calls with an EXISTS per call.
    monkeypatch.setattr("dashboards.selectors.calls.SEARCH_HITS", hits)
    assert set(explore(owner_client, seeded, "q=number")[1]) == {f"c-{i}" for i in range(40) if i not in (1, 2)}  # 1: XSS, 2: email output
    assert explore(owner_client, seeded, "q=number+7&model=claude-sonnet-4-5")[1] == ["c-7"]
    assert explore(owner_client, seeded, "q=number+7&model=house-model")[1] == []


def test_flag_filter_and_badges(owner_client: Client, seeded: Any) -> None:
    now = djtz.now()
    for external_id, name in (("c-5", "custom.rule"), ("c-6", "custom.rule"), ("c-7", "pii.email")):
        Flag.objects.create(project=seeded, call=Call.objects.get(project=seeded, external_id=external_id),
                            name=name, severity="medium", evaluator="rules", created_at=now)
    page, rows = explore(owner_client, seeded, "flag=custom.rule")
    assert set(rows) == {"c-5", "c-6"}
    assert page.count("⚑ custom.rule") == 2
    assert '<option value="custom.rule">' in page and '<option value="pii.email">' in page  # suggestions


def test_search_uses_the_gin_index(seeded: Any) -> None:
    with connection.cursor() as cur:
        # Test tables are tiny, so a sequential scan would win; forbid it to see what else the planner can use.
        cur.execute("SET LOCAL enable_seqscan = off")
        cur.execute(f"EXPLAIN SELECT call_id FROM telemetry_callpayload WHERE {SEARCH_SQL}", ["number 7"] * 2)
        plan = "\n".join(row[0] for row in cur.fetchall())
        assert "Bitmap Index Scan on callpayload_search" in plan, plan
        # The explorer's query filters payloads with that same indexable expression. (Whether the planner
        # then starts from the GIN index depends on table sizes and statistics: on test-sized tables it
        # flipped between runs, so the plan at 10M calls is bench/pages.py's "calls 30d, search".)
        day = datetime.now(timezone.utc) - timedelta(days=1)
        qs = calls_queryset(project_id=seeded.id, start=day, end=day + timedelta(days=2),
                            filters=ExplorerFilters(q="number 7"))
        sql = str(qs.query)
        assert "search @@ websearch_to_tsquery('simple', number 7)" in sql, sql


def test_a_huge_payload_is_still_ingested_and_searchable(owner_client: Client, seeded: Any, full_api: Any) -> None:
    # ~0.9 MB of distinct words: a whole-payload tsvector would pass PostgreSQL's 1 MB limit and
    # fail the INSERT, so the index function falls back to the first 100k characters.
    words = " ".join(hashlib.md5(str(i).encode()).hexdigest() for i in range(28000))
    ingest(full_api, seeded, [{"type": "call", "id": "huge", "timestamp": recent(1), "model": "m",
                               "input": "summarize this", "output": words}])
    _, rows = explore(owner_client, seeded, f"q={hashlib.md5(b'5').hexdigest()}")
    assert rows == ["huge"]
    page, _ = explore(owner_client, seeded, "q=summarize")
    preview = re.search(r'data-call="huge">.*?<td class="col-output preview"><span class="clip" title="[^"]*">'
                        r'(.*?)</span>', page, re.S).group(1)
    assert len(preview) <= PREVIEW_CHARS + 1 and preview.endswith("…")


def test_pages_follow_each_other_without_overlap_and_keep_filters(owner_client: Client, seeded: Any,
                                                                  full_api: Any) -> None:
    # 120 calls, seven to a timestamp: ties on start_time must not lose or repeat a call across pages.
    ingest(full_api, seeded, [{"type": "call", "id": f"bulk-{i}", "timestamp": recent(i // 7), "model": "bulk",
                               "output": f"bulk {i}", "tags": ["bulk"]} for i in range(120)])
    page, first = explore(owner_client, seeded, "range=24h&model=bulk&tag=bulk&q=bulk")
    seen, pages = list(first), 1
    link = older_link(page)
    while link:
        assert "model=bulk" in link and "tag=bulk" in link and "q=bulk" in link and "cursor=" in link
        response = owner_client.get(f"/projects/{seeded.id}/calls/{link}")
        page = response.content.decode()
        rows = re.findall(r'data-testid="call-row" data-call="([^"]+)"', page)
        assert 'data-testid="newest"' in page
        assert not set(rows) & set(seen)
        seen += rows
        pages += 1
        link = older_link(page)
    assert pages == 3 and len(seen) == 120 and set(seen) == {f"bulk-{i}" for i in range(120)}


def test_rare_matches_are_searched_a_budget_of_calls_at_a_time(owner_client: Client, seeded: Any,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("dashboards.selectors.calls.SCAN_BUDGET", 10)
    page, found = explore(owner_client, seeded, "tag=beta")
    assert found == ["c-0"] and "This page searched 10 calls" in page and "Search older calls →" in page
    pages = 1
    link = older_link(page)
    while link:
        assert "tag=beta" in link
        page = owner_client.get(f"/projects/{seeded.id}/calls/{link}").content.decode()
        found += re.findall(r'data-testid="call-row" data-call="([^"]+)"', page)
        pages += 1
        link = older_link(page)
    assert found == ["c-0", "c-10", "c-20", "c-30"] and pages == 5  # 43 calls, 10 searched per page
    assert "No older calls match" in page
    page, rows = explore(owner_client, seeded, "user_id=user-0&model=gpt-4o-mini")  # index-driven: no budget
    assert len(rows) == 3 and 'data-testid="scan-limit"' not in page


def test_query_count_does_not_grow_with_rows(owner_client: Client, seeded: Any, full_api: Any) -> None:
    ingest(full_api, seeded, [{"type": "call", "id": f"bulk-{i}", "timestamp": recent(i), "model": "bulk",
                               "output": f"bulk {i}"} for i in range(60)])
    for call in Call.objects.filter(project=seeded, model="bulk")[:10]:
        Flag.objects.create(project=seeded, call=call, name="rule", severity="low", evaluator="rules",
                            created_at=djtz.now())
    explore(owner_client, seeded, "status=error")  # the filter options are cached from here on, for both
    with CaptureQueriesContext(connection) as five:
        _, rows = explore(owner_client, seeded, "status=error")
    assert len(rows) == 5
    with CaptureQueriesContext(connection) as fifty:
        _, rows = explore(owner_client, seeded, "model=bulk&status=ok")
    assert len(rows) == 50
    assert len(fifty.captured_queries) == len(five.captured_queries)


def test_bad_filter_values_say_why_instead_of_failing(owner_client: Client, seeded: Any) -> None:
    page, rows = explore(owner_client, seeded, "score=helpfulness&score_min=abc&kind=robot&feedback=maybe&q=%21%21")
    assert "The minimum score must be a number" in page and "Unknown kind" in page
    assert "Unknown feedback filter" in page and "Search needs at least one word" in page
    assert set(rows) == {cid(i) for i in range(0, 40, 3)}  # the valid part (score name) still applies
    page, _ = explore(owner_client, seeded, "score_max=0.5")
    assert "A score threshold needs a score name" in page
    page, rows = explore(owner_client, seeded, "cursor=not-a-cursor&kind=all")
    assert "not valid any more" in page and len(rows) == 43


def test_no_match_shows_an_empty_state_with_a_way_out(owner_client: Client, seeded: Any) -> None:
    page, rows = explore(owner_client, seeded, "range=7d&q=nothingmatchesthis&model=gpt-4o-mini")
    assert rows == [] and 'data-testid="empty-state"' in page
    assert 'href="?range=7d" data-testid="clear-filters"' in page


def test_call_data_is_escaped(owner_client: Client, seeded: Any) -> None:
    page, rows = explore(owner_client, seeded)
    assert "xss-call" in rows
    assert "<script>alert(1)" not in page and "<img src=x" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page


def test_viewers_can_explore_and_strangers_cannot(viewer_client: Client, outsider_client: Client,
                                                  seeded: Any) -> None:
    assert viewer_client.get(f"/projects/{seeded.id}/calls/").status_code == 200
    assert outsider_client.get(f"/projects/{seeded.id}/calls/").status_code == 404

