"""The trace page (totals, tree and the selected span) and the feedback inbox (every end-user
comment, filterable by thumbs, rating and the toolbar's filters, paged, linking to its call)."""
from __future__ import annotations

import re
from typing import Any

import pytest
from django.test import Client

from tests.dashboards.conftest import recent


def get(client: Client, project: Any, path: str) -> str:
    response = client.get(f"/projects/{project.id}/{path}")
    assert response.status_code == 200
    return response.content.decode()


def test_the_trace_page_shows_totals_the_tree_and_the_selected_span(owner_client: Client, seeded: Any) -> None:
    page = get(owner_client, seeded, "traces/trace-agent")
    assert re.search(r'data-testid="trace-tokens">390<', page)
    assert re.search(r'data-testid="trace-errors">0<', page)
    assert page.count('data-testid="trace-span"') == 3
    detail = page[page.index('data-testid="span-detail"'):]
    assert "answer-ticket" in detail  # the root, selected by default
    page = get(owner_client, seeded, "traces/trace-agent?range=7d&span=agent-llm")
    detail = page[page.index('data-testid="span-detail"'):]
    assert "draft-reply" in detail and "Dear customer" in detail and "Draft a reply" in detail
    assert 'href="?range=7d&amp;span=agent-retrieve"' in page  # picking another span keeps the range
    assert re.search(r'aria-current="true"[^<]*>\s*<span class="wf-name"[^>]*><span[^>]*>llm</span>\s*draft-reply', page)
    # An unknown span falls back to the root rather than failing.
    assert "answer-ticket" in get(owner_client, seeded, "traces/trace-agent?span=nope").split('data-testid="span-detail"')[1]


def test_span_text_is_escaped(owner_client: Client, seeded: Any) -> None:
    page = get(owner_client, seeded, "traces/t-1")
    assert "<script>alert(1)" not in page and "&lt;script&gt;alert(1)&lt;/script&gt;" in page


def inbox(client: Client, project: Any, query: str = "") -> tuple[str, list[str]]:
    page = get(client, project, f"feedback/?{query}")
    return page, re.findall(r'href="/projects/\d+/calls/([^"?]+)\?[^"]*" data-testid="inbox-call"', page)


@pytest.fixture
def comments(seeded: Any, full_api: Any) -> Any:
    from telemetry.services import project_process

    events = [{"type": "feedback", "id": "fb-rated", "call_id": "c-5", "rating": 2, "comment": "<b>slow</b> and vague",
               "timestamp": recent(3)},
              {"type": "feedback", "id": "fb-happy", "call_id": "c-7", "thumbs": "up", "comment": "Spot on",
               "timestamp": recent(2)}]
    assert full_api.ingest(events).status_code == 202
    while project_process(project_id=seeded.id):
        pass
    return seeded


def test_the_inbox_lists_every_comment_and_filters_them(owner_client: Client, comments: Any) -> None:
    page, calls = inbox(owner_client, comments, "range=24h")
    assert set(calls) == {"c-0", "c-12", "c-24", "c-36", "c-5", "c-7"}  # comments only, not bare thumbs
    assert "&lt;b&gt;slow&lt;/b&gt; and vague" in page and "<b>slow</b>" not in page
    assert set(inbox(owner_client, comments, "thumbs=down")[1]) == {"c-0", "c-12", "c-24", "c-36"}
    assert inbox(owner_client, comments, "thumbs=up")[1] == ["c-7"]
    assert inbox(owner_client, comments, "rating=2")[1] == ["c-5"]
    assert set(inbox(owner_client, comments, "model=gpt-4o-mini")[1]) == {"c-0", "c-12", "c-24", "c-36"}  # i % 3 == 0
    assert set(inbox(owner_client, comments, "feature=search")[1]) == {"c-0", "c-12", "c-24", "c-36"}
    assert inbox(owner_client, comments, "prompt_version=support%40v2")[1] == ["c-5", "c-7"][::-1]
    page, _ = inbox(owner_client, comments, "rating=9&thumbs=sideways")
    assert "A rating is 1 to 5" in page and "Unknown thumbs filter" in page


def test_the_inbox_pages_without_overlap(owner_client: Client, comments: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("dashboards.selectors.feedback.INBOX_PAGE", 4)
    page, first = inbox(owner_client, comments, "range=24h")
    older = re.search(r'href="\?([^"]+)" rel="next"', page).group(1).replace("&amp;", "&")
    page, second = inbox(owner_client, comments, older)
    assert len(first) == 4 and len(second) == 2 and not set(first) & set(second)
    assert "No older comments" in page


def test_a_filter_on_the_call_searches_a_bounded_number_of_comments_a_page(
        owner_client: Client, comments: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("dashboards.selectors.feedback.SCAN_BUDGET", 2)

    def walk(query: str) -> tuple[list[str], list[str]]:
        found, notes = [], []
        while query is not None:
            page, calls = inbox(owner_client, comments, query)
            found += calls
            notes += re.findall(r'data-testid="scan-limit">([^<]*)', page)
            older = re.search(r'href="\?([^"]+)" rel="next"', page)
            query = older.group(1).replace("&amp;", "&") if older else None
        return found, notes

    found, notes = walk("range=24h&model=gpt-4o-mini")  # 4 of the 6 comments, a few at a time
    assert sorted(found) == ["c-0", "c-12", "c-24", "c-36"]
    assert notes and all(" 2 comments" in note for note in notes)
    found, notes = walk("range=24h&model=no-such-model")
    assert found == [] and len(notes) >= 2  # 6 comments searched 2 a page (more where times tie), none match
    assert notes[0].startswith("None of the 2 comments searched (back to ") and "on this page" in notes[-1]


def test_an_empty_inbox_says_how_to_send_comments(owner_client: Client, project: Any,
                                                  viewer_client: Client, outsider_client: Client) -> None:
    page, calls = inbox(owner_client, project)
    assert calls == [] and 'data-testid="empty-state"' in page and '"comment"' in page
    assert viewer_client.get(f"/projects/{project.id}/feedback/").status_code == 200
    assert outsider_client.get(f"/projects/{project.id}/feedback/").status_code == 404
