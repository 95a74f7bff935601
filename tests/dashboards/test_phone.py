"""At 390x844 (a phone) no page is wider than the screen: every project page, each detail page,
settings, alerts, review, drift and prompts, in a real headless Chromium. The filter bar folds
behind a button, charts fit, and calls read as cards."""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")

from django.conf import settings  # noqa: E402
from playwright.sync_api import Browser, Page, expect  # noqa: E402

from tests.dashboards.phone import signed_in_context  # noqa: E402

PHONE = {"width": 390, "height": 844}
SHOTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "screenshots"
# Pages reached from the project root; a detail page is reached by following its first link.
PAGES = ["", "calls/", "calls/c-5", "traces/trace-agent", "users/user-1", "sessions/s-1", "latency/", "cost/",
         "quality/", "people/", "settings/", "start/", "alerts/", "alerts/rules/new", "alerts/channels/new",
         "review/", "review/new", "drift/", "drift/settings", "prompts/", "prompts/new"]
FOLLOW = {"prompts/": "main a[href*='/prompts/'][href$='/']:not([href$='/prompts/'])",
          "review/": "main a[href*='/review/'][href$='/']:not([href$='/review/'])"}
WIDTH = "() => [document.documentElement.scrollWidth, window.innerWidth]"
# What is wider than the screen, to say which element overflows when the check fails.
CULPRITS = """() => [...document.querySelectorAll('body *')].filter(e => {
  if (e.getBoundingClientRect().right <= window.innerWidth + 1) return false;
  for (let a = e.parentElement; a && a !== document.body; a = a.parentElement) {
    if (getComputedStyle(a).overflowX !== 'visible') return false;  // scrolls inside its box
  }
  return true;
}).slice(0, 5).map(e => e.tagName + '.' + e.className + '#' + e.id + ' ' + Math.round(e.getBoundingClientRect().right))"""


def shoot(tab: Page, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    tab.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)


def fits(tab: Page, url: str) -> str | None:
    tab.goto(url)
    tab.wait_for_load_state("networkidle")
    scroll, inner = tab.evaluate(WIDTH)
    return None if scroll <= inner else f"{url}: {scroll} > {inner} {tab.evaluate(CULPRITS)}"


@pytest.mark.django_db(transaction=True)
def test_on_a_phone_no_page_is_wider_than_the_screen_filters_fold_and_calls_are_cards(browser: Browser, live_server: Any, seeded: Any, owner: Any) -> None:
    from prompts.services import Actor, prompt_version_create  # a prompt and a queue, so their pages are walked too
    from review.services import queue_create

    prompt_version_create(project=seeded, name="support", kind="text", template="Answer {{question}}",
                          labels=["production"], actor=Actor(label="owner", can_protect=True))
    queue_create(project=seeded, actor=owner, data={"name": "Triage", "rubric": [
        {"name": "correct", "kind": "categorical", "labels": ["yes", "no"], "approve": ["yes"]}]})
    context = signed_in_context(browser, live_server, owner, **PHONE)
    tab = context.new_page()
    base = f"{live_server.url}/projects/{seeded.id}/"
    try:
        wide = [problem for path in PAGES if (problem := fits(tab, base + path))]
        if problem := fits(tab, f"{live_server.url}/projects/new"):
            wide.append(problem)
        for path, link in FOLLOW.items():
            tab.goto(base + path)
            href = tab.locator(link).first.get_attribute("href")
            assert href, path
            if problem := fits(tab, live_server.url + href):
                wide.append(problem)
        assert not wide, "\n".join(wide)
        folds_and_cards(tab, base)
        # Getting started names this install's endpoints for the Langfuse SDK and OTLP exporters.
        tab.goto(base + "start/")
        expect(tab.locator("#snippet-langfuse")).to_contain_text(f"LANGFUSE_BASE_URL={settings.SITE_URL}")
        expect(tab.locator("#snippet-langfuse-py")).to_contain_text(f'base_url="{settings.SITE_URL}"')
        expect(tab.locator("#snippet-otel")).to_contain_text(f"{settings.SITE_URL}/v1/traces")
    finally:
        context.close()


def folds_and_cards(tab: Page, base: str) -> None:
    """The filter bar folds behind a button, charts fit, calls read as cards (one seeded walk: the
    same test as the widths, to seed once)."""
    tab.goto(base)
    toggle = tab.get_by_role("button", name="Filters")
    expect(toggle).to_be_visible()
    range_select = tab.get_by_label("Range", exact=True)
    expect(range_select).to_be_hidden()
    expect(toggle).to_have_attribute("aria-expanded", "false")
    toggle.click()
    expect(range_select).to_be_visible()
    expect(toggle).to_have_attribute("aria-expanded", "true")
    range_select.select_option("7d")
    tab.wait_for_load_state("networkidle")
    shoot(tab, "phone-overview")
    figures = tab.locator("[data-figure]")
    for chart in figures.all():  # charts further down are drawn as they come near: scroll past each
        chart.scroll_into_view_if_needed()
    expect(tab.locator("[data-figure].js-plotly-plot")).to_have_count(figures.count())
    charts = [box for chart in tab.locator(".js-plotly-plot").all() if (box := chart.bounding_box())]
    assert len(charts) == figures.count() > 3
    for box in charts:
        assert box["x"] >= 0 and box["x"] + box["width"] <= PHONE["width"], box
    tab.goto(base + "calls/")
    row = tab.locator("table.calls tbody tr").first
    expect(row).to_be_visible()
    assert tab.evaluate("() => getComputedStyle(document.querySelector('table.calls tbody tr')).display") \
        != "table-row"  # a card, not a row of a table wider than the screen
    box = row.bounding_box()
    assert box and box["width"] <= PHONE["width"]
    shoot(tab, "phone-calls")
    # At a desktop width the same page keeps its bar open and no button.
    tab.set_viewport_size({"width": 1400, "height": 900})
    expect(tab.get_by_role("button", name="Filters")).to_be_hidden()
    expect(tab.get_by_label("Range", exact=True)).to_be_visible()
