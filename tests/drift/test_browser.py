"""The drift page in headless Chromium (Debian's, driven by Playwright): open it, drill into a finding
whose group is an XSS attempt, see both charts drawn and nothing injected run, go Back."""
from __future__ import annotations

import re
from typing import Any

import pytest
from playwright.sync_api import Page, expect

from drift.services import drift_run
from tests.conftest import Api
from tests.dashboards.conftest import XSS
from tests.dashboards.test_browser import shoot, sign_in, tab, traces  # noqa: F401 - fixtures and helpers
from tests.drift.conftest import calls, run_end, send

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("no_topics")]


def test_open_drift_drill_into_a_finding_and_back(tab: Page, live_server: Any, full_api: Api,  # noqa: F811
                                                  project: Any) -> None:
    send(full_api, project, calls("b", 150, current=False, seed=1, model=XSS)
         + calls("c", 150, current=True, seed=2, model=XSS, latency=1000))
    drift_run(project=project, now=run_end())
    sign_in(tab, live_server.url)
    tab.goto(f"{live_server.url}/projects/{project.id}/drift/")
    expect(tab.get_by_role("link", name="Drift", exact=True)).to_have_attribute("aria-current", "page")
    findings = tab.get_by_test_id("drift-finding")
    expect(findings.first).to_be_visible()
    shoot(tab, "drift")
    row = findings.filter(has_text=XSS).first
    expect(row).to_contain_text(XSS)  # shown as text, not markup
    row.get_by_role("link", name="Latency").click()
    expect(tab).to_have_url(re.compile(r"/drift/findings/\d+$"))
    expect(tab.get_by_test_id("finding-title")).to_contain_text(XSS)
    assert traces(tab, "drift-comparison") == 2  # baseline and current overlaid
    assert traces(tab, "drift-history") >= 1
    shoot(tab, "drift-finding")
    tab.go_back()
    expect(tab).to_have_url(f"{live_server.url}/projects/{project.id}/drift/")
    expect(tab.get_by_test_id("drift-finding").first).to_be_visible()
    assert not tab.errors and not tab.dialogs  # type: ignore[attr-defined]
