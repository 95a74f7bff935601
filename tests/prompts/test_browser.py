"""The prompt pages in headless Chromium (Debian's, through Playwright): create a prompt and a
second version, move a label with the keyboard only, read the diff, come Back, start an experiment
and see its comparison."""
from __future__ import annotations

import os
import re
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest

os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")  # Playwright's loop shares the thread with the ORM

from playwright.sync_api import Browser, Page, expect  # noqa: E402

from telemetry.services import project_process  # noqa: E402
from tests.conftest import Api, call_event  # noqa: E402

CHROMIUM = os.environ.get("OBSERVATORY_CHROMIUM", "/usr/bin/chromium")
XSS = "<script>alert(1)</script>"




@pytest.fixture
def tab(browser: Browser) -> Iterator[Page]:
    context = browser.new_context(viewport={"width": 1300, "height": 900})
    page = context.new_page()
    page.dialogs = []  # type: ignore[attr-defined]
    page.on("dialog", lambda d: (page.dialogs.append(d.message), d.dismiss()))  # type: ignore[attr-defined]
    page.errors = []  # type: ignore[attr-defined]
    page.on("pageerror", lambda error: page.errors.append(str(error)))  # type: ignore[attr-defined]
    page.csp = []  # type: ignore[attr-defined]
    page.on("console", lambda m: "Content Security Policy" in m.text and page.csp.append(m.text))  # type: ignore[attr-defined]
    yield page
    context.close()


def test_create_a_version_move_a_label_by_keyboard_diff_and_start_an_experiment(
        tab: Page, live_server: Any, project: Any, owner: Any, full_key: str, prices: None) -> None:
    base = live_server.url
    tab.goto(f"{base}/accounts/login/")
    tab.get_by_label("Username").fill("owner")
    tab.get_by_label("Password").fill("pw-owner-123")
    tab.get_by_role("button", name="Sign in").click()
    tab.goto(f"{base}/projects/{project.id}/")
    tab.get_by_role("link", name="Prompts", exact=True).click()
    expect(tab.get_by_test_id("prompts-empty")).to_be_visible()

    tab.get_by_role("link", name="Create the first prompt").click()
    tab.get_by_label("Name").fill("welcome")
    tab.get_by_label("Template").fill(f"Hello {{{{name}}}}! {XSS}")
    tab.get_by_label("Labels").fill("production")
    tab.get_by_role("button", name="Create version").click()
    expect(tab.get_by_role("heading", name="welcome", exact=True)).to_be_visible()

    tab.get_by_test_id("new-version").click()
    expect(tab.get_by_label("Template")).to_have_value(f"Hello {{{{name}}}}! {XSS}")  # starts from the latest
    tab.get_by_label("Template").fill("Hi {{name}}, welcome back.")
    tab.get_by_label("Commit message").fill("friendlier")
    tab.get_by_role("button", name="Create version").click()
    expect(tab.get_by_test_id("version")).to_have_count(2)

    # Move production to v2 with the keyboard only.
    move = tab.get_by_test_id("label-form")
    move.get_by_label("Label", exact=True).focus()
    tab.keyboard.type("production")
    tab.keyboard.press("Tab")  # the version select; v2 (newest) is chosen by default
    expect(move.get_by_label("Version", exact=True)).to_be_focused()
    tab.keyboard.press("Tab")
    tab.keyboard.type("by keyboard")
    tab.keyboard.press("Enter")
    expect(tab).to_have_url(re.compile(r"#labels$"))
    expect(tab.get_by_test_id("label-row").filter(has_text="production")).to_contain_text("v2")
    expect(tab.get_by_test_id("history-row").first).to_contain_text("by keyboard")

    detail_url = tab.url
    tab.get_by_test_id("diff-link").click()
    diff = tab.get_by_test_id("diff")
    expect(diff.locator("del")).to_contain_text(f"-Hello {{{{name}}}}! {XSS}")  # shown as text
    expect(diff.locator("ins")).to_contain_text("+Hi {{name}}, welcome back.")
    tab.go_back()
    expect(tab).to_have_url(detail_url)
    expect(tab.get_by_role("heading", name="welcome", exact=True)).to_be_visible()

    # A 50% canary of v1 against production (v2), then calls of both arms arrive.
    tab.get_by_label("Treatment version").select_option("1")
    tab.get_by_label("Treatment share (%)").fill("50")
    tab.get_by_role("button", name="Start experiment").click()
    expect(tab.get_by_test_id("experiment-status")).to_have_text("running")
    now = datetime.now(timezone.utc)
    events = [call_event(i, trace_id=f"t{i}", timestamp=(now + timedelta(seconds=1)).isoformat(),
                         prompt={"name": "welcome", "version": str(1 + i % 2)}) for i in range(20)]
    assert Api(full_key).ingest(events).status_code == 202
    while project_process(project_id=project.id):
        pass
    tab.reload()
    expect(tab.get_by_test_id("arms")).to_contain_text("10")
    expect(tab.get_by_test_id("comparisons")).to_contain_text("error_rate")
    expect(tab.get_by_test_id("comparisons")).to_contain_text("inconclusive")  # 10 calls an arm: too few
    expect(tab.get_by_test_id("comparisons")).to_contain_text("cost_per_call")  # Welch's t beside the rates
    expect(tab.get_by_test_id("p95").first).to_contain_text(re.compile(r"\d+ ms \(\d+–\d+\)"))  # with its interval
    from pathlib import Path

    artifacts = Path(__file__).resolve().parents[2] / "test-artifacts"
    artifacts.mkdir(exist_ok=True)
    tab.screenshot(path=str(artifacts / "prompts-experiment.png"), full_page=True)
    assert not tab.dialogs and not tab.errors and not tab.csp  # type: ignore[attr-defined]
