from __future__ import annotations
import re
from typing import Any
from tests.dashboards.test_browser import browser, tab, signed_in, traces, sign_in  # noqa: F401
from playwright.sync_api import Page, expect


def test_choosers(signed_in: Page, live_server: Any, seeded: Any) -> None:
    tab = signed_in
    tab.goto(f"{live_server.url}/projects/{seeded.id}/cost/?range=24h")
    tab.wait_for_load_state("networkidle")
    tab.evaluate("window.__same = true")
    tab.get_by_label("Stack cost by").select_option("user")
    expect(tab).to_have_url(re.compile(r"by=user"))
    tab.wait_for_load_state("networkidle")
    assert tab.evaluate("window.__same") is True
    assert traces(tab, "cost-by") == 6, traces(tab, "cost-by")
    expect(tab.get_by_test_id("top-users")).to_be_visible()
    tab.get_by_label("Range", exact=True).select_option("7d")
    expect(tab).to_have_url(re.compile(r"range=7d.*by=user|by=user.*range=7d"))
    tab.wait_for_load_state("networkidle")
    assert traces(tab, "cost-by") == 6
    print(tab.url)
    tab.goto(f"{live_server.url}/projects/{seeded.id}/latency/?range=24h")
    tab.get_by_label("Split by").select_option("model")
    expect(tab).to_have_url(re.compile(r"by=model"))
    tab.get_by_label("Percentile per group").select_option("p99")
    expect(tab).to_have_url(re.compile(r"pct=p99"))
    tab.wait_for_load_state("networkidle")
    assert traces(tab, "latency-percentiles") == 3
    print(tab.url)
    tab.goto(f"{live_server.url}/projects/{seeded.id}/quality/?range=24h")
    print("COUNT", tab.get_by_label("Score", exact=True).count(), tab.get_by_label("Score").count(), tab.get_by_role("combobox", name="Score").count())
    for i in range(tab.get_by_label("Score").count()):
        print("EL", tab.get_by_label("Score").nth(i).evaluate("e => e.outerHTML.slice(0, 120)"))
    tab.screenshot(path="/tmp/chartsbench/quality0.png", full_page=True)
    tab.locator("#quality-score").select_option("toxicity.output")
    expect(tab).to_have_url(re.compile(r"score=toxicity.output"))
    tab.wait_for_load_state("networkidle")
    print(tab.url)
    assert traces(tab, "thumbs") == 3
    assert not tab.errors
    tab.screenshot(path="/tmp/chartsbench/quality.png", full_page=True)
    tab.goto(f"{live_server.url}/projects/{seeded.id}/cost/?range=24h")
    tab.wait_for_load_state("networkidle")
    tab.screenshot(path="/tmp/chartsbench/cost.png", full_page=True)
    tab.goto(f"{live_server.url}/projects/{seeded.id}/latency/?range=24h")
    tab.wait_for_load_state("networkidle")
    tab.screenshot(path="/tmp/chartsbench/latency.png", full_page=True)
