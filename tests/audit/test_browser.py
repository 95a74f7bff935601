"""The end-user erasure and the audit log in a real headless Chromium (Debian's /usr/bin/chromium
driven by Playwright; no browser is downloaded), served by pytest-django's live server. The erasure
task runs in the server's thread here (tests/audit/test_privacy.py runs it in a real worker)."""
from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest

# Playwright's sync API runs an event loop in this thread; Django's ORM (used by the fixtures in
# the same thread) refuses to run next to one unless told the thread is not really async.
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")

from playwright.sync_api import Browser, Page, expect  # noqa: E402

from audit.models import AuditEntry  # noqa: E402
from tests.audit.test_erasure import SUBJECT, events, process, rows_holding  # noqa: E402
from tests.conftest import Api  # noqa: E402

CHROMIUM = os.environ.get("OBSERVATORY_CHROMIUM", "/usr/bin/chromium")
SHOTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "screenshots"
pytestmark = pytest.mark.django_db(transaction=True)




@pytest.fixture
def tab(browser: Browser) -> Iterator[Page]:
    context = browser.new_context(viewport={"width": 1300, "height": 900})
    page = context.new_page()
    page.dialogs = []  # type: ignore[attr-defined]  # any dialog here means injected script ran

    def on_dialog(dialog: Any) -> None:
        page.dialogs.append(dialog.message)  # type: ignore[attr-defined]
        dialog.dismiss()

    page.on("dialog", on_dialog)
    yield page
    context.close()


@pytest.fixture
def seeded(full_api: Api, project: Any, prices: None, monkeypatch: Any) -> Any:
    from privacy import tasks

    # The live server's thread runs the task at once, after the request's commit.
    monkeypatch.setattr(tasks.erase_end_user, "delay", lambda *args: tasks.erase_end_user.apply(args=args))
    assert full_api.ingest(events()).status_code == 202
    process(project)
    return project


def sign_in(tab: Page, base: str) -> None:
    tab.goto(f"{base}/accounts/login/")
    tab.get_by_label("Username").fill("owner")
    tab.get_by_label("Password").fill("pw-owner-123")
    tab.get_by_role("button", name="Sign in").click()
    tab.wait_for_load_state("networkidle")


def test_an_owner_erases_a_user_with_the_keyboard_only(tab: Page, live_server: Any, seeded: Any) -> None:
    sign_in(tab, live_server.url)
    tab.goto(f"{live_server.url}/projects/{seeded.id}/users/{quote(SUBJECT)}")
    expect(tab.get_by_test_id("user-privacy")).to_be_visible()
    # To the "Erase this user…" link with Tab alone, then Enter.
    link = tab.get_by_test_id("erase-user")
    for _ in range(200):
        tab.keyboard.press("Tab")
        if link.evaluate("el => el === document.activeElement"):
            break
    else:
        pytest.fail("the erase link is not reachable with Tab")
    tab.keyboard.press("Enter")
    expect(tab.get_by_test_id("erase-user-id")).to_have_text(SUBJECT)
    # A wrong id first: refused, nothing erased, the field says why.
    confirm = tab.get_by_label("Type the user id to confirm")
    confirm.focus()
    tab.keyboard.type("not-the-id")
    tab.keyboard.press("Enter")
    expect(tab.get_by_role("alert")).to_contain_text("nothing was erased")
    assert rows_holding(SUBJECT)
    # Then the right one, submitted with Enter.
    confirm = tab.get_by_label("Type the user id to confirm")
    confirm.focus()
    tab.keyboard.type(SUBJECT)
    tab.keyboard.press("Enter")
    expect(tab.get_by_test_id("erasure-status")).to_have_text("Done")
    expect(tab.get_by_test_id("erasure-counts")).to_contain_text("telemetry_call")
    SHOTS.mkdir(parents=True, exist_ok=True)
    tab.screenshot(path=str(SHOTS / "privacy-erasure.png"), full_page=True)
    assert rows_holding(SUBJECT) == {}
    # The receipt in the audit log, one click away.
    tab.get_by_role("link", name="The receipt in the audit log").click()
    expect(tab.get_by_test_id("audit-row").first).to_contain_text("end_user.erased")
    tab.screenshot(path=str(SHOTS / "audit-log.png"), full_page=True)
    assert tab.dialogs == []  # type: ignore[attr-defined]
    assert AuditEntry.objects.filter(action="end_user.erased").count() == 1


def test_the_audit_log_shows_hostile_values_as_text(tab: Page, live_server: Any, seeded: Any, owner: Any) -> None:
    from tenancy.services import api_key_create

    api_key_create(project=seeded, scopes=["read"], name="<img src=x onerror=alert(1)>", created_by=owner)
    sign_in(tab, live_server.url)
    tab.goto(f"{live_server.url}/projects/{seeded.id}/settings/")
    tab.get_by_test_id("audit-link").click()
    row = tab.get_by_test_id("audit-row").first
    expect(row).to_contain_text("<img src=x onerror=alert(1)>")
    tab.get_by_label("Action").select_option("judge.deleted")
    tab.get_by_role("button", name="Filter").click()
    expect(tab.get_by_test_id("audit-empty")).to_be_visible()
    assert tab.dialogs == []  # type: ignore[attr-defined]
