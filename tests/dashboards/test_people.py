"""Users & sessions: top lists from the entity rollups, and a page per user and per session with
totals, feedback and their calls (the explorer's table, paginated)."""
from __future__ import annotations

import html as htmllib
import re
from decimal import Decimal
from typing import Any

from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from telemetry.models import Call
from telemetry.services import project_process
from tests.dashboards.conftest import XSS, recent


def get(client: Client, project: Any, path: str) -> str:
    response = client.get(f"/projects/{project.id}/{path}")
    assert response.status_code == 200, response.status_code
    return response.content.decode()


def table(page: str, testid: str) -> list[tuple[str, str]]:
    """(key, calls) of each row of a top table."""
    body = page[page.index(f'data-testid="{testid}"'):]
    body = body[:body.index("</table>")]
    return re.findall(r'<tr>\s*<td><a href="[^"]+">([^<]+)</a></td>\s*<td class="num">([^<]+)</td>', body)


def test_people_lists_top_users_and_sessions_with_links(owner_client: Client, seeded: Any) -> None:
    page = get(owner_client, seeded, "people/?range=24h")
    assert {key for key, _ in table(page, "top-users")} == {f"user-{n}" for n in range(5)}
    assert all(calls == "8" for _, calls in table(page, "top-users"))
    assert f'href="/projects/{seeded.id}/users/user-0?range=24h"' in page
    assert f'href="/projects/{seeded.id}/sessions/s-0?range=24h"' in page
    by_calls = table(get(owner_client, seeded, "people/?range=24h&by=calls"), "top-sessions")
    assert [calls for _, calls in by_calls] == ["6"] * 5 + ["5"] * 2  # s-0..s-4 have 6 calls, s-5 and s-6 five
    costs: dict[str, Decimal] = {}
    for user_id, cost in Call.objects.filter(project=seeded, user_id__gt="").values_list("user_id", "cost_total_usd"):
        costs[user_id] = costs.get(user_id, Decimal(0)) + (cost or 0)
    assert [key for key, _ in table(page, "top-users")] == sorted(costs, key=lambda k: (-costs[k], k))


def test_user_page_shows_totals_feedback_and_calls(owner_client: Client, seeded: Any) -> None:
    page = get(owner_client, seeded, "users/user-0?range=24h")
    rows = re.findall(r'data-testid="call-row" data-call="([^"]+)"', page)
    assert set(rows) == {f"c-{i}" for i in range(0, 40, 5)}
    assert re.search(r'data-testid="entity-calls">.*?class="value">8<', page, re.S)
    # Feedback on user-0's calls: c-0 thumbs down with a comment, c-20 thumbs up.
    assert "1 up · 1 down" in page and "not what I asked" in page


def test_session_page(owner_client: Client, seeded: Any) -> None:
    page = get(owner_client, seeded, "sessions/s-0?range=24h")
    rows = re.findall(r'data-testid="call-row" data-call="([^"]+)"', page)
    assert set(rows) == {f"c-{i}" for i in range(0, 40, 7)}
    assert "1 up · 1 down" in page  # c-0 down, c-28 up


def test_user_calls_paginate_and_stay_on_the_user(owner_client: Client, seeded: Any, full_api: Any) -> None:
    events = [{"type": "call", "id": f"heavy-{i}", "timestamp": recent(i), "model": "m", "user_id": "heavy",
               "output": "ok"} for i in range(70)]
    events.append({"type": "feedback", "call_id": "heavy-3", "thumbs": "down", "comment": XSS})
    assert full_api.ingest(events).status_code == 202
    while project_process(project_id=seeded.id):
        pass
    page = get(owner_client, seeded, "users/heavy?range=24h")
    first = re.findall(r'data-testid="call-row" data-call="([^"]+)"', page)
    assert len(first) == 50
    older = htmllib.unescape(re.search(r'href="([^"]+)" rel="next"', page).group(1))
    response = owner_client.get(f"/projects/{seeded.id}/users/heavy{older}")
    second = re.findall(r'data-testid="call-row" data-call="([^"]+)"', response.content.decode())
    assert len(second) == 20 and not set(first) & set(second)
    assert "<script>alert(1)" not in page and "&lt;script&gt;alert(1)&lt;/script&gt;" in page  # the comment


def test_call_data_is_escaped_on_people_pages(owner_client: Client, seeded: Any) -> None:
    for path in ("people/", "users/user-1", "sessions/s-1"):  # xss-call belongs to user-1 and s-1
        page = get(owner_client, seeded, path)
        assert "<script>alert(1)" not in page and "<img src=x" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in get(owner_client, seeded, "users/user-1")


def test_unknown_people_and_strangers_get_404(owner_client: Client, outsider_client: Client,
                                              viewer_client: Client, seeded: Any) -> None:
    assert owner_client.get(f"/projects/{seeded.id}/users/nobody").status_code == 404
    assert owner_client.get(f"/projects/{seeded.id}/sessions/nothing").status_code == 404
    for path in ("people/", "users/user-0", "sessions/s-0"):
        assert outsider_client.get(f"/projects/{seeded.id}/{path}").status_code == 404
        assert viewer_client.get(f"/projects/{seeded.id}/{path}").status_code == 200


def test_tops_come_from_the_warmed_cache_and_match_the_rollup_query(owner_client: Client, seeded: Any) -> None:
    from datetime import datetime, timedelta, timezone

    from dashboards.selectors.people import top_entities_cached
    from dashboards.tasks import warm_top_entities
    from rollups.selectors import top_entities

    now = datetime.now(timezone.utc)
    for order in ("cost", "calls", "errors"):
        direct = top_entities(project_id=seeded.id, entity="user", start=now - timedelta(days=1), end=now,
                              order_by=order, limit=25)
        cached = top_entities_cached(project_id=seeded.id, entity="user", start=now - timedelta(days=1), end=now,
                                     order=order, limit=25, refresh=True)
        assert cached == direct, order
    assert warm_top_entities() >= 2  # users and sessions of the seeded project, at least one day set
    with CaptureQueriesContext(connection) as queries:
        assert owner_client.get(f"/projects/{seeded.id}/people/?range=24h").status_code == 200
    assert not any("rollups_entityrollup" in q["sql"] for q in queries.captured_queries)
