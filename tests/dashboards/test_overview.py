from __future__ import annotations

import json
import re
from typing import Any

import plotly.graph_objects as go
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from observatory.assets import PLOTLY_BASIC_TRACES


def figures(html: str) -> dict[str, dict[str, Any]]:
    """The Plotly figures a page embeds, by chart id; each must be valid Plotly."""
    found = {}
    for chart_id, body in re.findall(r'<script id="([\w-]+)-data" type="application/json">(.*?)</script>', html, re.S):
        figure = json.loads(body)
        go.Figure(figure)  # raises on anything plotly.js would not understand
        assert {trace.get("type", "scatter") for trace in figure["data"]} <= PLOTLY_BASIC_TRACES  # what the bundle draws
        found[chart_id] = figure
    return found


def test_overview_shows_tiles_and_charts_from_rollups(owner_client: Client, seeded: Any) -> None:
    response = owner_client.get(f"/projects/{seeded.id}/?range=24h")
    assert response.status_code == 200
    html = response.content.decode()
    charts = figures(html)
    assert {"calls", "latency", "cost", "top-model"} <= set(charts)
    calls = {t["name"]: sum(v for v in t["y"] if v) for t in charts["calls"]["data"]}
    assert calls == {"calls": 41, "errors": 5}  # 40 calls + the trace's llm call; kind agent/retrieval excluded
    assert [t["name"] for t in charts["latency"]["data"]] == ["p50", "p95", "p99"]
    assert set(charts["top-model"]["data"][0]["y"]) == {"gpt-4o-mini", "claude-sonnet-4-5", "house-model"}
    tile = re.search(r'data-testid="tile-calls">.*?class="value">([^<]+)<', html, re.S).group(1)
    assert tile == "41"
    assert "Unpriced calls" in html and "Thumbs-down rate" in html


def test_filters_in_the_url_narrow_every_figure(owner_client: Client, seeded: Any) -> None:
    html = owner_client.get(f"/projects/{seeded.id}/?range=24h&model=house-model").content.decode()
    calls = figures(html)["calls"]["data"][0]
    assert sum(v for v in calls["y"] if v) == 13  # i % 3 == 2 for i < 40
    assert 'value="house-model" selected' in html


def test_empty_project_shows_how_to_send_the_first_event(owner_client: Client, project: Any) -> None:
    html = owner_client.get(f"/projects/{project.id}/").content.decode()
    assert 'data-testid="empty-state"' in html
    assert "/api/v1/ingest" in html and "/v1/traces" in html


def test_strangers_get_404_and_anonymous_users_sign_in(outsider_client: Client, client: Client, seeded: Any) -> None:
    assert outsider_client.get(f"/projects/{seeded.id}/").status_code == 404
    response = client.get(f"/projects/{seeded.id}/")
    assert response.status_code == 302 and response["Location"].startswith("/accounts/login/")


def test_bad_range_says_why_and_falls_back(owner_client: Client, seeded: Any) -> None:
    html = owner_client.get(f"/projects/{seeded.id}/?range=custom&from=yesterday").content.decode()
    assert "must be a date and time" in html
    assert "Last 24 hours" in html


def test_query_count_does_not_grow_with_data(owner_client: Client, seeded: Any, full_api: Any) -> None:
    with CaptureQueriesContext(connection) as before:
        owner_client.get(f"/projects/{seeded.id}/")
    full_api.ingest([{"type": "call", "id": f"more-{i}", "model": f"m-{i}", "latency_ms": 10} for i in range(30)])
    from telemetry.services import project_process

    project_process(project_id=seeded.id)
    with CaptureQueriesContext(connection) as after:
        owner_client.get(f"/projects/{seeded.id}/")
    assert len(after.captured_queries) == len(before.captured_queries)


def _tile(html: str, testid: str) -> str:
    return re.search(rf'data-testid="{testid}".*?class="value">([^<]+)<', html, re.S).group(1)


def test_thumbs_down_rate_follows_every_filter_exactly(owner_client: Client, seeded: Any) -> None:
    from telemetry.models import Feedback

    page = f"/projects/{seeded.id}/?range=24h"
    assert _tile(owner_client.get(page).content.decode(), "tile-thumbs-down") == "40.0%"  # 4 down of 10
    # feature=chat: calls i % 4 != 0; feedback is on i % 4 == 0, so none of it matches
    html = owner_client.get(f"{page}&feature=chat").content.decode()
    assert _tile(html, "tile-thumbs-down") == "–" and "latest 5k" not in html
    # Two dimensions at once: no cap, no sample, every rating counted.
    rated = Feedback.objects.filter(project=seeded, call__feature="search", call__model="gpt-4o-mini")
    html = owner_client.get(f"{page}&feature=search&model=gpt-4o-mini").content.decode()
    assert _tile(html, "tile-thumbs-down") == f"{rated.filter(thumbs=-1).count() / rated.count() * 100:.1f}%"
    assert "by when the rated call ran" in html


def test_average_rating_tile(owner_client: Client, seeded: Any, full_api: Any) -> None:
    from telemetry.services import project_process

    full_api.ingest([{"type": "feedback", "call_id": f"c-{i}", "rating": r} for i, r in ((2, 5), (3, 4), (4, 2))])
    project_process(project_id=seeded.id)
    html = owner_client.get(f"/projects/{seeded.id}/?range=24h").content.decode()
    assert _tile(html, "tile-rating") == "3.67"
