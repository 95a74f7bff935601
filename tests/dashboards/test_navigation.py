"""Navigation keeps its state (issue 17 §1), in a real headless Chromium: the project tabs carry the
range, filters and time zone after every htmx swap; Back and Forward restore the toolbar exactly;
auto-refresh never touches a field being edited, and says it is paused."""
from __future__ import annotations

import re
from typing import Any
from urllib.parse import parse_qs, urlsplit

from playwright.sync_api import Page, expect

from tests.dashboards.test_browser import shoot, sign_in, signed_in, tab  # noqa: F401, F811  (fixtures)


def query(url: str) -> dict[str, list[str]]:
    return parse_qs(urlsplit(url).query)


def tab_link(page: Page, name: str) -> Any:
    return page.get_by_role("navigation", name="Project pages").get_by_role("link", name=name, exact=True)


def test_tab_links_carry_the_range_filters_and_time_zone_after_a_swap(
        signed_in: Page, live_server: Any, seeded: Any) -> None:  # noqa: F811
    page = signed_in
    page.goto(f"{live_server.url}/projects/{seeded.id}/?tz=Asia/Tokyo")
    page.evaluate("window.__sameDocument = true")
    page.get_by_label("Range", exact=True).select_option("7d")
    expect(page).to_have_url(re.compile(r"range=7d"))
    page.get_by_label("Model", exact=True).select_option("house-model")
    expect(page).to_have_url(re.compile(r"model=house-model"))
    assert page.evaluate("window.__sameDocument") is True  # htmx swapped the body, no page load

    for name in ("Cost", "Latency", "Quality", "Calls", "Users & sessions", "Feedback", "Review", "Alerts", "Drift",
                 "Prompts"):
        params = query(tab_link(page, name).get_attribute("href"))
        assert params.get("range") == ["7d"], name
        assert params.get("model") == ["house-model"], name
        assert params.get("tz") == ["Asia/Tokyo"], name

    tab_link(page, "Latency").click()
    expect(page).to_have_url(re.compile(r"/latency/\?"))
    assert query(page.url)["range"] == ["7d"] and query(page.url)["model"] == ["house-model"]
    expect(page.get_by_label("Range", exact=True)).to_have_value("7d")
    expect(page.get_by_label("Model", exact=True)).to_have_value("house-model")
    expect(page.get_by_text("Times in Asia/Tokyo")).to_be_visible()

    # Through a page without the toolbar and back: the state rides along.
    tab_link(page, "Alerts").click()
    expect(page).to_have_url(re.compile(r"/alerts/\?"))
    tab_link(page, "Overview").click()
    expect(page.get_by_label("Range", exact=True)).to_have_value("7d")
    expect(page.get_by_label("Model", exact=True)).to_have_value("house-model")


def test_back_and_forward_restore_the_toolbar_exactly(signed_in: Page, live_server: Any,  # noqa: F811
                                                     seeded: Any) -> None:
    page = signed_in
    overview = f"{live_server.url}/projects/{seeded.id}/"
    page.goto(f"{overview}?range=24h")
    providers = page.get_by_label("Provider", exact=True).locator("option").count()
    assert providers >= 3
    page.get_by_label("Range", exact=True).select_option("7d")
    expect(page).to_have_url(re.compile(r"range=7d"))
    page.get_by_label("Model", exact=True).select_option("house-model")
    expect(page).to_have_url(re.compile(r"model=house-model"))
    tab_link(page, "Latency").click()
    expect(page).to_have_url(re.compile(r"/latency/"))

    def toolbar_reads(range_key: str, model: str) -> None:
        expect(page.get_by_label("Range", exact=True)).to_have_value(range_key)
        expect(page.get_by_label("Model", exact=True)).to_have_value(model)
        # Every filter select is there, each with its choices (not a body-only swap answer).
        expect(page.get_by_label("Provider", exact=True).locator("option")).to_have_count(providers)
        expect(page.locator("#range option")).to_have_count(5)

    page.go_back()
    expect(page).to_have_url(re.compile(r"/projects/\d+/\?.*range=7d.*model=house-model"))
    expect(page.get_by_role("heading", level=1)).to_contain_text("Last 7 days")
    toolbar_reads("7d", "house-model")
    expect(page.get_by_test_id("tile-calls").locator(".value")).to_have_text("13")

    page.go_back()
    expect(page).to_have_url(re.compile(r"/projects/\d+/\?range=7d$"))
    toolbar_reads("7d", "")
    expect(page.get_by_test_id("tile-calls").locator(".value")).to_have_text("41")

    page.go_back()
    expect(page).to_have_url(re.compile(r"/projects/\d+/\?range=24h$"))
    toolbar_reads("24h", "")

    page.go_forward()
    expect(page).to_have_url(re.compile(r"/projects/\d+/\?range=7d$"))
    toolbar_reads("7d", "")
    page.go_forward()
    toolbar_reads("7d", "house-model")
    page.go_forward()
    expect(page).to_have_url(re.compile(r"/latency/"))
    toolbar_reads("7d", "house-model")


def test_auto_refresh_leaves_a_field_being_edited_alone_and_says_so(tab: Page, live_server: Any,  # noqa: F811
                                                                     seeded: Any) -> None:
    page = tab
    page.clock.install()  # the minute between refreshes passes when the test says so
    sign_in(page, live_server.url)
    page.goto(f"{live_server.url}/projects/{seeded.id}/calls/?range=24h")
    refreshes: list[str] = []
    page.on("request", lambda r: refreshes.append(r.url) if r.headers.get("hx-request") and "/calls/" in r.url
            else None)
    status = page.get_by_test_id("autorefresh-status")
    page.get_by_role("heading", level=1).click()  # focus and blur on nothing being edited
    expect(status).to_have_text("")

    search = page.get_by_label("Search input and output")
    search.fill("refund policy")  # typed, not applied
    expect(status).to_contain_text("paused")
    page.clock.run_for(61_000)
    page.clock.run_for(61_000)
    expect(search).to_have_value("refund policy")
    expect(search).to_be_focused()
    assert refreshes == []
    shoot(page, "calls-autorefresh-paused")

    # Still typed but no longer focused: the text is not applied yet, so refresh stays paused.
    page.get_by_role("heading", level=1).click()
    page.clock.run_for(61_000)
    expect(search).to_have_value("refund policy")
    expect(status).to_contain_text("paused")
    assert refreshes == []

    # Emptied again: nothing to lose, and the next minute refreshes the body.
    search.fill("")
    page.get_by_role("heading", level=1).click()
    expect(status).to_have_text("")
    with page.expect_request(lambda r: bool(r.headers.get("hx-request")) and "/calls/" in r.url):
        page.clock.run_for(61_000)
