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
from tests.dashboards.test_browser import tab  # noqa: F401  (the browser tab fixture)
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


# --- One prompt's versions compared (the overview's "Prompt versions" section) -----------------------

# (version, calls, errors, latency ms, cost-bearing output tokens, calls whose answer leaks an e-mail)
VERSIONS = [("1", 4, 2, 400, 20, 2), ("2", 6, 0, 200, 40, 0), ("10", 2, 1, 300, 30, 0)]


@pytest.fixture
def compared(full_api: Api, project: Any, prices: None) -> Any:
    from quality.services import project_evaluate
    from rollups.signals import project_signals_fold

    events, i = [], 0
    for version, calls, errors, latency, tokens, leaks in VERSIONS:
        for n in range(calls):
            i += 1
            event = call_event(i, trace_id=f"t-{i}", timestamp=(NOW - timedelta(minutes=i)).isoformat(),
                               latency_ms=latency, status="error" if n < errors else "ok",
                               usage={"input_tokens": 100, "output_tokens": tokens},
                               prompt={"name": "support-answer", "version": version},
                               output="Mail jane.doe@example.com" if n < leaks else "Here is the answer")
            events.append(event)
            events.append({"type": "score", "call_id": f"call-{i}", "name": "helpfulness",
                           "value": {"1": 0.5, "2": 0.75, "10": 0.25}[version]})
            if version != "10":
                events.append({"type": "feedback", "call_id": f"call-{i}",
                               "thumbs": "down" if (version == "1" and n < 2) else "up"})
    events.append(call_event(99, trace_id="t-99", timestamp=NOW.isoformat(),
                             prompt={"name": "other-prompt", "version": "2"}))
    response = full_api.ingest(events)
    assert response.status_code == 202, response.content
    while project_process(project_id=project.id):
        pass
    while project_evaluate(project_id=project.id):
        pass
    project_signals_fold(project_id=project.id)
    return project


def test_a_prompts_versions_are_compared_from_the_rollups_with_the_change_against_the_previous(
        owner_client: Client, compared: Any) -> None:
    from dashboards.context import Page
    from dashboards.selectors.versions import prompt_version_comparison

    page = Page(project=compared, role="owner", start=NOW - timedelta(hours=2), end=NOW + timedelta(hours=1),
                range_key="custom", interval=timedelta(hours=1), tz="UTC")
    table = prompt_version_comparison(page, "support-answer")
    assert [row["version"] for row in table["rows"]] == ["1", "2", "10"]  # "10" after "2", not before
    v1, v2, v10 = (row["values"] for row in table["rows"])
    assert (v1["count"], v2["count"], v10["count"]) == (4, 6, 2)  # the other prompt's "2" stays apart
    assert (v1["error_rate"], v2["error_rate"]) == (0.5, 0.0)
    assert v1["tokens_per_call"] == 120 and v2["tokens_per_call"] == 140
    assert v2["cost_per_call"] > v1["cost_per_call"] > 0
    assert v1["score:api:helpfulness"] == pytest.approx(0.5) and v2["score:api:helpfulness"] == pytest.approx(0.75)
    assert (v1["thumbs_down_rate"], v2["thumbs_down_rate"], v10["thumbs_down_rate"]) == (0.5, 0.0, None)
    flag = next(c["key"] for c in table["columns"] if c["key"].startswith("flag:") and "pii" in c["key"])
    assert v1[flag] == 0.5 and v2[flag] == 0.0
    changes = table["rows"][1]["changes"]
    assert table["rows"][0]["changes"] is None
    assert changes["count"] == {"value": 50.0, "kind": "pct"}
    assert changes["error_rate"] == {"value": -50.0, "kind": "pp"}
    assert changes["latency_p95"]["value"] == pytest.approx(-50, abs=5)
    assert changes["score:api:helpfulness"] == {"value": pytest.approx(0.25), "kind": "abs"}
    assert changes["thumbs_down_rate"] == {"value": -50.0, "kind": "pp"}
    # Version 10 compares with version 2, the one before it.
    assert table["rows"][2]["changes"]["count"]["value"] == pytest.approx(-66.67, abs=0.01)


def test_the_overview_links_each_prompt_to_its_versions_compared(owner_client: Client, compared: Any) -> None:
    html = owner_client.get(f"/projects/{compared.id}/?range=24h").content.decode()
    links = dict((name, href.replace("&amp;", "&")) for href, name in
                 re.findall(r'<a href="\?([^"]*)#prompt-versions">([^<]+)</a>', html))
    assert set(links) == {"support-answer", "other-prompt"}
    assert "prompt_name=support-answer" in links["support-answer"] and "range=24h" in links["support-answer"]
    html = owner_client.get(f"/projects/{compared.id}/?{links['support-answer']}").content.decode()
    assert 'data-testid="version-comparison"' in html
    assert "Versions of support-answer compared" in html
    # A second filter outside the prompt cube: the call figures stay, scores and flags say why not.
    html = owner_client.get(f"/projects/{compared.id}/?{links['support-answer']}&model=gpt-4o-mini").content.decode()
    assert "clear the other filters to compare them" in html


def test_in_the_browser_a_prompt_link_opens_its_versions_side_by_side(
        tab: Any, live_server: Any, compared: Any) -> None:  # noqa: F811  (the tab fixture)
    from playwright.sync_api import expect

    from tests.dashboards.test_browser import SHOTS, sign_in

    sign_in(tab, live_server.url)
    tab.goto(f"{live_server.url}/projects/{compared.id}/?range=24h")
    section = tab.get_by_test_id("prompt-versions")
    section.get_by_role("link", name="support-answer", exact=True).click()
    expect(tab).to_have_url(re.compile(r"prompt_name=support-answer.*#prompt-versions"))
    expect(tab.get_by_label("Prompt", exact=True)).to_have_value("support-answer")
    table = tab.get_by_test_id("version-comparison")
    expect(table.locator("tbody tr")).to_have_count(3)
    expect(table.locator("tbody th")).to_have_text(["support-answer v1", "support-answer v2", "support-answer v10"])
    v2 = table.locator('tr[data-version="2"]')
    expect(v2).to_contain_text("+50%")  # calls against v1
    expect(v2).to_contain_text("-50.0 pp")  # error rate and thumbs-down rate
    expect(v2.locator(".delta.good").first).to_be_visible()
    for header in ("Calls", "p50", "p95", "p99", "Error rate", "Cost / call", "Tokens / call", "Thumbs-down rate",
                   "helpfulness", "pii.email rate"):
        expect(table.locator("thead")).to_contain_text(header)
    SHOTS.mkdir(parents=True, exist_ok=True)
    section.screenshot(path=str(SHOTS / "prompt-versions-compared.png"))
    section.get_by_role("link", name="All prompts").click()
    expect(tab.get_by_test_id("version-comparison")).to_have_count(0)
