"""Issue 17 §5 in a real browser: a payload cut at ingest reads as truncated on the call page (the
marker is never shown as if it were what the model said); shortening retention asks first and says
how much it deletes."""
from __future__ import annotations

import os
import re
from typing import Any

import pytest

os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")

from playwright.sync_api import Browser, expect  # noqa: E402

from ingest import limits  # noqa: E402
from tests.conftest import Api, call_event  # noqa: E402
from tests.dashboards.phone import signed_in_context  # noqa: E402


@pytest.mark.django_db(transaction=True)
def test_a_cut_output_says_so_on_the_call_page(browser: Browser, live_server: Any, full_api: Api, project: Any,
                                               owner: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(limits, "MAX_PAYLOAD_BYTES", 2048)
    response = full_api.ingest([call_event(1, output="The answer begins here. " + "x" * 5000, cost_usd=0.5)])
    assert response.json()["changed"] == 1
    context = signed_in_context(browser, live_server, owner)
    try:
        tab = context.new_page()
        tab.goto(f"{live_server.url}/projects/{project.id}/calls/call-1")
        note = tab.get_by_test_id("output-truncated")
        expect(note).to_be_visible()
        expect(note).to_contain_text("truncated")
        expect(note).to_contain_text("4.9 KB were sent, over the 2.0 KB payload limit")
        output = tab.get_by_test_id("call-output")
        expect(output).to_contain_text("The answer begins here.")
        expect(output).not_to_contain_text("original_bytes")  # the preview, not the marker's JSON
        expect(tab.get_by_test_id("call-input").get_by_test_id("input-truncated")).to_have_count(0)
        expect(tab.get_by_test_id("cost")).to_contain_text("$0.50")
        # One time format, without microseconds (the exact time on hover).
        expect(tab.get_by_test_id("call-start")).to_have_text(re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d$"))
        expect(tab.get_by_test_id("call-start")).to_have_attribute("title", re.compile(r"\.\d{6}$"))
    finally:
        context.close()


@pytest.mark.django_db(transaction=True)
def test_shortening_retention_asks_first_and_says_how_much_goes(browser: Browser, live_server: Any, project: Any,
                                                                 owner: Any) -> None:
    from datetime import timedelta

    from django.utils import timezone

    from rollups.models import Rollup

    Rollup.objects.create(project=project, grain="d", cube="total", kind="llm",
                          bucket=timezone.now() - timedelta(days=20), calls=4321)
    context = signed_in_context(browser, live_server, owner)
    try:
        tab = context.new_page()
        tab.goto(f"{live_server.url}/projects/{project.id}/settings/#retention")
        tab.get_by_label("Calls, scores and feedback (days)").fill("14")
        tab.get_by_role("button", name="Save retention").click()
        confirm = tab.get_by_test_id("retention-confirm")
        expect(confirm).to_contain_text("Nothing is saved yet")
        expect(confirm).to_contain_text("90 → 14 days deletes about 4.3k calls")
        project.refresh_from_db()
        assert project.retention_call_days is None
        confirm.get_by_role("button", name="Delete and save").click()
        expect(tab.get_by_role("status")).to_contain_text("Retention saved")
        project.refresh_from_db()
        assert project.retention_call_days == 14
    finally:
        context.close()


@pytest.mark.django_db(transaction=True)
def test_an_owner_creates_a_project_from_settings(browser: Browser, live_server: Any, project: Any,
                                                  owner: Any) -> None:
    context = signed_in_context(browser, live_server, owner)
    try:
        tab = context.new_page()
        tab.goto(f"{live_server.url}/projects/{project.id}/settings/")
        tab.get_by_test_id("new-project").click()
        tab.get_by_label("Name").fill("Search assistant")
        tab.get_by_role("button", name="Create project").click()
        expect(tab.get_by_test_id("empty-state")).to_contain_text("send your first event")
        expect(tab.locator("#project-switcher")).to_contain_text("Search assistant")
    finally:
        context.close()


@pytest.mark.django_db(transaction=True)
def test_an_owner_adds_an_llm_judge_in_settings(browser: Browser, live_server: Any, project: Any, owner: Any) -> None:
    from quality.models import Judge

    context = signed_in_context(browser, live_server, owner)
    try:
        tab = context.new_page()
        tab.goto(f"{live_server.url}/projects/{project.id}/settings/#judges")
        form = tab.get_by_test_id("judge-form")
        form.get_by_label("Judge name").fill("tone")
        form.get_by_label("Template").select_option("relevance")
        form.get_by_label("Endpoint (base URL)").fill("http://judge.internal:11434/v1")
        form.get_by_label("Judge model").fill("llama3")
        form.get_by_role("button", name="Add judge").click()
        expect(tab.get_by_test_id("judge-row")).to_contain_text("judge.tone")
        assert Judge.objects.get(project=project).model == "llama3"
    finally:
        context.close()
