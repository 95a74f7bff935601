"""Alerts in a real headless Chromium (Debian's /usr/bin/chromium via Playwright, never
downloaded): create a rule with the form (partly keyboard-only) while its preview redraws live as
the threshold changes, see it fire after the evaluation service runs (its sparkline, the Overview's
panel), acknowledge the incident, silence a group, create a webhook channel and send a test
that a local receiver gets signed."""
from __future__ import annotations

import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import standardwebhooks

os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")  # the ORM next to Playwright's event loop

from playwright.sync_api import Browser, Page, expect  # noqa: E402

from alerts.evaluation import rules_evaluate_due  # noqa: E402
from alerts.models import Incident, Rule  # noqa: E402
from tests.alerts.conftest import Received, at_minute, calls, ingest  # noqa: E402
from tests.conftest import Api  # noqa: E402

CHROMIUM = os.environ.get("OBSERVATORY_CHROMIUM", "/usr/bin/chromium")
SHOTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "screenshots"




@pytest.fixture
def tab(browser: Browser) -> Iterator[Page]:
    context = browser.new_context(viewport={"width": 1300, "height": 1000})
    page = context.new_page()
    page.errors = []  # type: ignore[attr-defined]
    page.on("pageerror", lambda error: page.errors.append(str(error)))  # type: ignore[attr-defined]
    page.on("console", lambda msg: page.errors.append(msg.text) if msg.type == "error" else None)  # type: ignore[attr-defined]
    page.on("dialog", lambda dialog: dialog.accept())
    yield page
    context.close()


def shoot(tab: Page, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    tab.screenshot(path=str(SHOTS / f"alerts-{name}.png"), full_page=True)


@pytest.mark.django_db(transaction=True)
def test_create_a_rule_see_it_fire_acknowledge_silence_and_send_a_test(
        tab: Page, live_server: Any, api: Api, project: Any, prices: None, settings: Any,
        receiver: tuple[str, Received]) -> None:
    settings.ALERTS_ALLOW_PRIVATE_URLS = True
    url, received = receiver
    ingest(api, project, calls(12, latency=2500, start=at_minute(-3)))
    base = f"{live_server.url}/projects/{project.id}/alerts/"
    tab.goto(base)
    tab.get_by_label("Username").fill("owner")
    tab.get_by_label("Password").fill("pw-owner-123")
    tab.get_by_role("button", name="Sign in").click()
    expect(tab.get_by_role("heading", name="Alerts", exact=True)).to_be_visible()
    expect(tab.get_by_role("link", name="Alerts", exact=True)).to_have_attribute("aria-current", "page")

    # The rule form, partly keyboard-only: type into the focused field and Tab onward.
    tab.get_by_role("link", name="New rule").click()
    tab.get_by_label("Name").focus()
    tab.keyboard.type("Slow answers")
    tab.keyboard.press("Tab")
    tab.keyboard.type("latency_p95")
    expect(tab.locator("#id_baseline")).to_be_hidden()  # alerts.js shows only the chosen condition's fields
    tab.get_by_label("Condition").select_option("change")
    expect(tab.locator("#id_baseline")).to_be_visible()
    tab.get_by_label("Condition").select_option("threshold")
    tab.get_by_label("Critical level").fill("1000")
    tab.get_by_label("Min count").fill("5")
    tab.get_by_label("Window (minutes)").fill("10")
    tab.keyboard.press("Tab")  # leaving the field is a change: the live preview redraws, no button
    # The unsaved rule's chart and backtest, through htmx.
    expect(tab.get_by_test_id("preview-backtest")).to_contain_text("Would have fired 1 time", timeout=20000)
    expect(tab.get_by_test_id("chart-rule-preview").locator(".main-svg").first).to_be_visible()
    # Raise the threshold past every call: the preview follows the form on its own.
    tab.get_by_label("Critical level").fill("5000")
    tab.keyboard.press("Tab")
    expect(tab.get_by_test_id("preview-backtest")).to_contain_text("Would have fired 0 times", timeout=20000)
    tab.get_by_label("Critical level").fill("1000")
    tab.keyboard.press("Tab")
    expect(tab.get_by_test_id("preview-backtest")).to_contain_text("Would have fired 1 time", timeout=20000)
    assert Rule.objects.count() == 0
    shoot(tab, "preview")
    tab.get_by_label("Critical level").focus()
    tab.keyboard.press("Enter")  # submits the form
    expect(tab.get_by_test_id("rule-row")).to_contain_text("Slow answers")
    expect(tab.get_by_test_id("rule-state")).to_have_text("ok")
    rule = Rule.objects.get()
    assert rule.condition_config == {"op": "above", "critical": 1000.0}
    tab.get_by_role("link", name="Slow answers").click()  # the saved rule's page: its backtest
    tab.get_by_test_id("run-backtest").click()
    expect(tab.get_by_test_id("backtest")).to_contain_text("Would have fired 1 time", timeout=20000)
    tab.goto(base)

    # The evaluation (what beat runs every minute), then the page shows it firing.
    assert rules_evaluate_due(now=at_minute(1)) == 1
    tab.reload()
    expect(tab.get_by_test_id("rule-state")).to_have_text("firing")
    expect(tab.get_by_test_id("firing")).to_contain_text("Slow answers")
    # The rule's sparkline: its measure over the last 24 hours, with the threshold.
    expect(tab.get_by_test_id("sparkline")).to_be_visible()
    assert "latency_p95 per hour" in (tab.get_by_test_id("sparkline").get_attribute("aria-label") or "")
    shoot(tab, "firing")
    # The Overview says what is firing and links to the incident.
    tab.get_by_role("link", name="Overview", exact=True).click()
    expect(tab.get_by_test_id("overview-firing")).to_contain_text("1 firing")
    shoot(tab, "overview-firing")
    tab.get_by_test_id("overview-firing").get_by_role("link", name="Slow answers").click()
    # plotly.js (several MB, for the incident's chart) loads first: allow it time on a busy machine.
    expect(tab.get_by_test_id("timeline")).to_contain_text("ok → firing", timeout=20000)
    expect(tab.get_by_test_id("chart-incident-metric").locator(".main-svg").first).to_be_visible()
    tab.get_by_test_id("acknowledge").focus()
    tab.keyboard.press("Enter")
    expect(tab.get_by_test_id("acknowledged")).to_contain_text("by owner")
    assert Incident.objects.get().acknowledged_at is not None
    shoot(tab, "incident")

    # Silence the model for two hours.
    tab.goto(base)
    tab.locator("#id_rule").select_option(label="Slow answers")
    tab.get_by_label("Only the group where").select_option("model")
    tab.locator("#id_value").fill("gpt-4o")
    tab.get_by_label("Reason").fill("known, provider incident")
    tab.get_by_role("button", name="Create silence").click()
    expect(tab.get_by_test_id("silence-row")).to_contain_text("model=gpt-4o")

    # A webhook channel: its secret shown once, then "Send test" through the real transport.
    tab.get_by_role("link", name="New channel").click()
    tab.get_by_label("Kind").select_option("webhook")
    expect(tab.get_by_label("Email addresses")).to_be_hidden()
    tab.get_by_label("Name").fill("On-call hook")
    tab.get_by_label("URL").fill(url + "/hook")
    tab.get_by_role("button", name="Save channel").click()
    secret = tab.get_by_test_id("new-secret").inner_text()
    assert secret.startswith("whsec_")
    tab.get_by_test_id("send-test").focus()
    tab.keyboard.press("Enter")
    expect(tab.get_by_text("Test notification sent.")).to_be_visible()
    expect(tab.get_by_test_id("delivery-log")).to_contain_text("delivered")
    assert re.search(r"whsec_", tab.content()) is None  # not shown again
    payload = standardwebhooks.Webhook(secret).verify(received.requests[0]["body"], received.requests[0]["headers"])
    assert payload["type"] == "alert.test"
    shoot(tab, "channel")
    assert not tab.errors, tab.errors
