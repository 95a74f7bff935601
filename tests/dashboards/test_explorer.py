"""The explorer's additions: the lazily loaded total (exact, capped, or "many" when costly), search
terms highlighted after escaping, group by trace with each trace's totals, and adding calls to a
review queue: the ticked rows, or every call matching the filters in batches, by members only."""
from __future__ import annotations

import re
from typing import Any

import pytest
from django.test import Client

from dashboards.views.calls import highlight, search_terms
from review.models import Item
from review.services import queue_create
from telemetry.models import Call

RUBRIC = [{"name": "ok", "kind": "boolean"}]


def total(client: Client, project: Any, query: str) -> str:
    response = client.get(f"/projects/{project.id}/explorer/count?{query}")
    assert response.status_code == 200
    return re.search(r'data-testid="total"[^>]*>(.*?)</span>', response.content.decode(), re.S).group(1)


def test_the_total_is_exact_capped_or_many(owner_client: Client, seeded: Any,
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    assert total(owner_client, seeded, "range=24h") == "41 calls"  # LLM calls only, by default
    assert total(owner_client, seeded, "range=24h&kind=all") == "43 calls"
    assert total(owner_client, seeded, "range=24h&status=error") == "5 calls"
    assert total(owner_client, seeded, "range=24h&q=%22Question+12%22") == "1 call"
    monkeypatch.setattr("dashboards.selectors.calls.COUNT_CAP", 10)
    monkeypatch.setattr("dashboards.views.calls.COUNT_CAP", 10)
    assert total(owner_client, seeded, "range=24h") == "More than 10 calls"
    monkeypatch.setattr("dashboards.selectors.calls.SEARCH_HITS", 1)  # "number" is now a common word
    assert total(owner_client, seeded, "range=24h&q=number") == "Many calls"


def test_a_count_that_runs_too_long_is_given_up_and_the_limit_restored(owner_client: Client, seeded: Any,
                                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    from django.db import connection

    monkeypatch.setattr("dashboards.selectors.calls.COUNT_TIMEOUT_MS", 1)
    monkeypatch.setattr("dashboards.selectors.calls.calls_queryset",
                        lambda **kw: Call.objects.extra(where=["pg_sleep(0.05) IS NOT NULL"]))
    assert total(owner_client, seeded, "range=24h") == "Many calls"
    with connection.cursor() as cur:
        cur.execute("SHOW statement_timeout")
        assert cur.fetchone()[0] != "1ms"


def test_search_terms_are_highlighted_after_escaping() -> None:
    assert search_terms('refund "late fee" -angry or x') == ["refund", "late fee", "x"]
    html = highlight("<b>Refund</b> & a late fee for refunds", ["refund", "late fee", "amp"])
    assert html == "&lt;b&gt;<mark>Refund</mark>&lt;/b&gt; &amp; a <mark>late fee</mark> for refunds"
    assert highlight("<script>", []) == "&lt;script&gt;"


def test_highlighted_rows_stay_escaped(owner_client: Client, seeded: Any) -> None:
    page = owner_client.get(f"/projects/{seeded.id}/calls/?q=here+go").content.decode()
    assert "<script>alert" not in page
    assert "<mark>Here</mark> you <mark>go</mark>: &lt;script&gt;alert(1)&lt;/script&gt;&lt;img" in page


def test_group_by_trace_puts_calls_under_their_trace_with_its_totals(owner_client: Client, seeded: Any) -> None:
    page = owner_client.get(f"/projects/{seeded.id}/calls/?range=1h&group=trace").content.decode()
    heads = re.findall(r'data-testid="trace-group">(.*?)</tr>', page, re.S)
    assert len(heads) == 3  # t-0, xss-call's t-1 and trace-agent
    agent = next(h for h in heads if "trace-agent" in h)
    assert "3 spans" in agent and "390 tokens" in agent
    assert f'href="/projects/{seeded.id}/traces/trace-agent?' in agent


@pytest.fixture
def queue(seeded: Any, owner: Any) -> Any:
    return queue_create(project=seeded, actor=owner, data={"name": "From the explorer", "rubric": RUBRIC})


def queued(queue: Any) -> set[str]:
    return set(Item.objects.filter(queue=queue).values_list("call__external_id", flat=True))


def test_members_add_ticked_rows_to_a_queue(member_client: Client, seeded: Any, queue: Any) -> None:
    page = member_client.get(f"/projects/{seeded.id}/calls/").content.decode()
    assert 'data-testid="add-selected"' in page and 'name="call_ids" value="c-3"' in page
    url = f"/projects/{seeded.id}/explorer/review?range=24h"
    response = member_client.post(url, {"queue": queue.id, "scope": "selected", "call_ids": ["c-3", "c-5"]},
                                  HTTP_HX_REQUEST="true")
    assert "Added 2 of 2 calls" in response.content.decode()
    response = member_client.post(url, {"queue": queue.id, "scope": "selected", "call_ids": ["c-3"]})
    assert response.status_code == 302 and response["Location"].endswith("/calls/?range=24h")
    assert queued(queue) == {"c-3", "c-5"}


def test_all_matching_calls_are_added_batch_by_batch_honouring_the_filters(
        member_client: Client, seeded: Any, queue: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("review.explorer.MATCHING_BATCH", 2)
    url = f"/projects/{seeded.id}/explorer/review?range=24h&feature=search"
    data: dict[str, Any] = {"queue": queue.id, "scope": "matching"}
    steps = 0
    while True:
        body = member_client.post(url, data, HTTP_HX_REQUEST="true").content.decode()
        steps += 1
        form = re.search(r'<form hidden hx-post="([^"]+)".*?</form>', body, re.S)
        if not form:
            break
        assert "matching calls so far" in body
        data = dict(re.findall(r'name="([^"]+)" value="([^"]*)"', form.group(0)))
    assert steps == 5 and "Added 10 of 10 calls" in body
    assert queued(queue) == {f"c-{i}" for i in range(0, 40, 4)}  # feature=search only
    # Without htmx, one request does every batch.
    other = queue_create(project=seeded, actor=None, data={"name": "Errors", "rubric": RUBRIC})
    member_client.post(f"/projects/{seeded.id}/explorer/review?range=24h&status=error",
                       {"queue": other.id, "scope": "matching"})
    assert queued(other) == {"c-3", "c-11", "c-19", "c-27", "c-35"}


def test_viewers_cannot_add_to_queues(viewer_client: Client, seeded: Any, queue: Any) -> None:
    page = viewer_client.get(f"/projects/{seeded.id}/calls/").content.decode()
    assert 'data-testid="add-selected"' not in page and 'name="call_ids"' not in page
    response = viewer_client.post(f"/projects/{seeded.id}/explorer/review",
                                  {"queue": queue.id, "scope": "selected", "call_ids": ["c-3"]})
    assert response.status_code == 403 and not queued(queue)
