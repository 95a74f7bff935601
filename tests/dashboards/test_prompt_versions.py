"""A prompt version belongs to its prompt: "version 2" of two prompts is two versions, in the
metrics API's grouping, on every page that splits by version, in the toolbar's version filter and
in the slowest-calls table. Charts of dimension values use category axes."""
from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest
from django.test import Client

from dashboards.context import parse_filters
from dashboards.selectors import group_label
from telemetry.services import project_process
from tests.conftest import Api, call_event
from tests.dashboards.test_overview import figures

NOW = datetime.now(timezone.utc).replace(second=0, microsecond=0) - timedelta(minutes=5)
# (prompt, version, calls): both prompts have a version "2"; 8 calls of "2" in all.
MIX = [("chat-assistant", "2", 3), ("search-answer", "2", 5), ("search-answer", "1", 2), ("", "", 1)]


@pytest.fixture
def prompted(full_api: Api, project: Any, prices: None) -> Any:
    events, i = [], 0
    for name, version, n in MIX:
        for _ in range(n):
            i += 1
            event = call_event(i, trace_id=f"t-{i}", timestamp=(NOW - timedelta(minutes=i)).isoformat(),
                               latency_ms=100 * i, status="error" if i % 2 else "ok")
            if name:
                event["prompt"] = {"name": name, "version": version}
            events.append(event)
    response = full_api.ingest(events)
    assert response.status_code == 202, response.content
    while project_process(project_id=project.id):
        pass
    return project


def test_the_metrics_api_groups_a_version_with_its_prompt(full_api: Api, prompted: Any) -> None:
    body = full_api.get("/api/v1/metrics", measure="count", group_by="prompt_version",
                        **{"from": (NOW - timedelta(hours=2)).isoformat(), "to": (NOW + timedelta(hours=1)).isoformat()}
                        ).json()
    assert body["group_by"] == ["prompt_name", "prompt_version"]
    counts = {(s["group"]["prompt_name"], s["group"]["prompt_version"]): sum(p["value"] for p in s["points"])
              for s in body["series"]}
    assert counts == {("chat-assistant", "2"): 3, ("search-answer", "2"): 5, ("search-answer", "1"): 2, ("", ""): 1}


def test_the_overview_lists_each_prompts_version_apart_on_a_category_axis(owner_client: Client, prompted: Any) -> None:
    html = owner_client.get(f"/projects/{prompted.id}/?range=24h").content.decode()
    chart = figures(html)["top-prompt_version"]
    assert chart["layout"]["yaxis"]["type"] == "category"
    assert set(chart["data"][0]["y"]) == {"chat-assistant v2", "search-answer v2", "search-answer v1", "(none)"}
    # The errors table links to exactly that prompt's version.
    link = re.search(r'href="([^"]*prompt_version=2[^"]*)">search-answer v2</a>', html).group(1)
    assert "prompt_name=search-answer" in link.replace("&amp;", "&")


def test_the_version_filter_offers_versions_with_their_prompt_and_filters_on_both(
        owner_client: Client, prompted: Any) -> None:
    html = owner_client.get(f"/projects/{prompted.id}/?range=24h").content.decode()
    select = re.search(r'<select id="f-prompt_version".*?</select>', html, re.S).group(0)
    options = dict(re.findall(r'<option value="([^"]*)"[^>]*>([^<]*)</option>', select))
    assert options == {"": "All", "chat-assistant@2": "chat-assistant v2", "search-answer@1": "search-answer v1",
                       "search-answer@2": "search-answer v2"}
    filtered = owner_client.get(f"/projects/{prompted.id}/?range=24h&prompt_version=search-answer%402").content.decode()
    assert re.search(r'data-testid="tile-calls">.*?class="value">([^<]+)<', filtered, re.S).group(1) == "5"
    assert re.search(r'<option value="search-answer@2" selected>', filtered)


def test_a_plain_version_filter_still_works_and_a_pair_splits_at_its_last_at_sign() -> None:
    from django.http import QueryDict

    assert parse_filters(QueryDict("prompt_version=2")) == {"prompt_version": ["2"]}
    assert parse_filters(QueryDict("prompt_version=team%40bot%403")) == {"prompt_name": ["team@bot"],
                                                                         "prompt_version": ["3"]}
    assert group_label(("prompt_name", "prompt_version"), ("faq", "v7")) == "faq v7"
    assert group_label(("model", "prompt_name", "prompt_version"), ("gpt", "faq", "")) == "gpt / faq (no version)"


def test_cost_and_latency_splits_and_the_slowest_calls_name_the_prompt(owner_client: Client, prompted: Any) -> None:
    cost = figures(owner_client.get(f"/projects/{prompted.id}/cost/?range=24h&by=prompt_version").content.decode())
    names = {t["name"] for chart in cost.values() for t in chart["data"]}
    assert {"chat-assistant v2", "search-answer v2", "search-answer v1"} <= names
    latency = owner_client.get(f"/projects/{prompted.id}/latency/?range=24h&by=prompt_version").content.decode()
    assert {"chat-assistant v2", "search-answer v2"} <= {t["name"] for c in figures(latency).values() for t in c["data"]}
    slowest = re.search(r'data-testid="slowest-calls">.*?</table>', latency, re.S).group(0)
    assert "search-answer · 2" in slowest and "chat-assistant · 2" in slowest
