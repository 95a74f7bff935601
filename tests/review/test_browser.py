"""Reviewing in a real headless Chromium (Debian's /usr/bin/chromium through Playwright, never a
downloaded browser): five items with the keyboard alone, an LLM output holding script that must
stay text, then the human scores on the quality page."""
from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

# Playwright's sync API runs an event loop in this thread; Django's ORM (fixtures) refuses to run
# next to one unless told the thread is not really async.
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")

from playwright.sync_api import Browser, Page, expect  # noqa: E402

from review.models import Item, Verdict  # noqa: E402
from review.services import rule_create  # noqa: E402
from rollups.signals import project_signals_fold  # noqa: E402
from telemetry.models import Score  # noqa: E402
from tests.conftest import Api  # noqa: E402
from tests.review.conftest import call, feed  # noqa: E402

CHROMIUM = os.environ.get("OBSERVATORY_CHROMIUM", "/usr/bin/chromium")
SHOTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "screenshots"
XSS = '<script>alert(1)</script><img src=x onerror="alert(2)">'




@pytest.fixture
def tab(browser: Browser) -> Iterator[Page]:
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    page = context.new_page()
    page.dialogs = []  # type: ignore[attr-defined]  # any alert() means injected script ran
    page.on("dialog", lambda dialog: (page.dialogs.append(dialog.message), dialog.dismiss()))  # type: ignore[attr-defined]
    page.errors = []  # type: ignore[attr-defined]
    page.on("pageerror", lambda error: page.errors.append(str(error)))  # type: ignore[attr-defined]
    yield page
    context.close()


def test_five_items_reviewed_with_the_keyboard_alone(tab: Page, live_server: Any, api: Api, project: Any,
                                                     queue: Any, owner: Any, member: Any) -> None:
    rule_create(queue=queue, actor=owner, data={"kind": "sample", "rate": 1.0})
    feed(api, project, [call(0, output=f"Here you go: {XSS}")] + [call(i) for i in range(1, 6)])
    assert Item.objects.filter(queue=queue).count() == 6
    base = live_server.url
    tab.goto(f"{base}/accounts/login/?next=/projects/{project.id}/review/{queue.id}/next")
    tab.get_by_label("Username").fill("member")
    tab.get_by_label("Password").fill("pw-member-123")
    tab.keyboard.press("Enter")
    expect(tab.locator("[data-review-item]")).to_be_visible()
    expect(tab.get_by_test_id("call-output")).to_contain_text("<script>alert(1)</script>")  # as text
    SHOTS.mkdir(parents=True, exist_ok=True)
    tab.screenshot(path=str(SHOTS / "review-item.png"), full_page=True)
    tab.keyboard.press("?")
    expect(tab.locator("#keys-help")).to_be_visible()
    tab.keyboard.press("Escape")
    expect(tab.locator("#keys-help")).to_be_hidden()
    seen = []
    for n in range(5):
        item = tab.locator("[data-review-item]").get_attribute("data-review-item")
        seen.append(item)
        if n == 1:  # a comment: typed keys are text, not shortcuts, until Esc
            tab.keyboard.press("c")
            tab.keyboard.type("so-so, 1 step missing")
            tab.keyboard.press("Escape")
        if n == 2:  # j/k move between questions: back to the first, then answer it
            tab.keyboard.press("j")
            tab.keyboard.press("k")
        for key in ("1", str(2 + n % 4), "2"):  # correct; helpfulness 2-5; hallucination "No"
            tab.keyboard.press(key)
        tab.keyboard.press("Enter")
        expect(tab.locator(f'[data-review-item]:not([data-review-item="{item}"]), [data-testid="queue-empty"]')
               ).to_be_visible()
        expect(tab.get_by_test_id("done-count")).to_have_text(str(n + 1))
    tab.keyboard.press("s")  # the sixth: skipped, nothing left for this reviewer
    expect(tab.get_by_test_id("queue-empty")).to_be_visible()
    assert len(set(seen)) == 5 and tab.dialogs == [] and tab.errors == []  # type: ignore[attr-defined]

    verdicts = list(Verdict.objects.filter(queue=queue).order_by("created_at"))
    assert [v.answers for v in verdicts] == [{"correct": "correct", "helpfulness": 2 + n % 4, "hallucination": False}
                                            for n in range(5)]
    assert verdicts[1].comment == "so-so, 1 step missing"
    assert Score.objects.filter(source="human", name="review.support-answers.helpfulness").count() == 5
    project_signals_fold(project_id=project.id)
    tab.goto(f"{base}/projects/{project.id}/quality/?range=24h&score=human:review.support-answers.helpfulness")
    expect(tab.locator('[data-testid="scores"]')).to_contain_text("human:review.support-answers.helpfulness")
    tab.goto(f"{base}/projects/{project.id}/review/{queue.id}/")
    tab.screenshot(path=str(SHOTS / "review-queue.png"), full_page=True)
    assert tab.dialogs == []  # type: ignore[attr-defined]


def test_the_rubric_editor_builds_a_rubric_without_json(tab: Page, live_server: Any, project: Any, owner: Any
                                                        ) -> None:
    """Questions of every kind added, removed and reordered with the editor's buttons; a bad one is
    refused naming the field, shown on that question."""
    from review.models import Queue

    console: list[str] = []
    tab.on("console", lambda message: console.append(message.text))
    base = live_server.url
    tab.goto(f"{base}/accounts/login/?next=/projects/{project.id}/review/new")
    tab.get_by_label("Username").fill("owner")
    tab.get_by_label("Password").fill("pw-owner-123")
    tab.keyboard.press("Enter")
    editor = tab.get_by_test_id("rubric-editor")
    questions = editor.locator("fieldset.rq")
    expect(questions).to_have_count(3)  # the example rubric
    expect(tab.locator("#q-rubric")).to_be_hidden()  # JSON is one click away, not in the way
    tab.get_by_label("Name", exact=True).fill("Tone check")
    questions.nth(2).get_by_role("button", name="Remove question").click()
    expect(questions).to_have_count(2)

    editor.get_by_role("button", name="Add question").click()
    expect(questions.nth(2).get_by_label("Label")).to_be_focused()
    tab.keyboard.type("Tone of voice")
    expect(questions.nth(2).get_by_label("Name (the score")).to_have_value("tone_of_voice")
    questions.nth(2).get_by_label("Option 1", exact=True).fill("friendly")
    questions.nth(2).get_by_label("Option 2", exact=True).fill("rude")
    questions.nth(2).get_by_role("button", name="Add option").click()
    tab.keyboard.type("neutral")
    questions.nth(2).get_by_label("approves").first.check()
    questions.nth(2).get_by_role("button", name="Move up").click()
    tab.keyboard.press("Enter")  # focus stays on Move up: moved to the top
    expect(questions.nth(0).get_by_label("Label")).to_have_value("Tone of voice")
    questions.nth(2).get_by_label("To").fill("10")  # helpfulness 1-10

    editor.get_by_role("button", name="Add question").click()
    tab.keyboard.type("Notes")
    questions.nth(3).get_by_label("Kind").select_option("text")
    questions.nth(3).get_by_label("Name (the score").fill("reviewer_notes")
    tab.get_by_role("button", name="Save").click()
    expect(tab.get_by_role("heading", name="Routing rules")).to_be_visible()  # the new queue's page
    queue = Queue.objects.get(project=project, name="Tone check")
    assert queue.rubric == [
        {"name": "tone_of_voice", "label": "Tone of voice", "kind": "categorical", "required": True,
         "labels": ["friendly", "rude", "neutral"], "values": [1.0, 0.5, 0.0], "approve": ["friendly"]},
        {"name": "correct", "label": "Is the answer correct?", "kind": "categorical", "required": True,
         "labels": ["correct", "partially correct", "wrong"], "values": [1.0, 0.5, 0.0], "approve": ["correct"]},
        {"name": "helpfulness", "label": "Helpfulness", "kind": "numeric", "required": True, "min": 1, "max": 10},
        {"name": "reviewer_notes", "label": "Notes", "kind": "text", "required": False}]

    # Each option's score and a question's help text are edited in place too.
    tab.goto(f"{base}/projects/{project.id}/review/{queue.id}/edit")
    expect(questions.nth(0).get_by_label("Score of option 2")).to_have_value("0.5")
    questions.nth(0).get_by_label("Score of option 2").fill("0.2")
    questions.nth(0).get_by_label("Help for reviewers").fill("How it sounds, <not> what it says")
    tab.get_by_role("button", name="Save").click()
    expect(tab.get_by_role("heading", name="Routing rules")).to_be_visible()
    saved = Queue.objects.get(pk=queue.pk).rubric[0]
    assert saved["values"] == [1.0, 0.2, 0.0] and saved["help"] == "How it sounds, <not> what it says"

    # A categorical question with one option: refused, and the editor shows it on that question.
    tab.goto(f"{base}/projects/{project.id}/review/{queue.id}/edit")
    editor.get_by_role("button", name="Add question").click()
    tab.keyboard.type("Verdict")
    questions.nth(4).get_by_label("Option 1", exact=True).fill("fine")
    questions.nth(4).get_by_role("button", name="Remove option 2").click()
    tab.get_by_role("button", name="Save").click()
    expect(tab.get_by_test_id("form-errors")).to_contain_text("rubric[4].labels")
    expect(questions.nth(4).get_by_test_id("rubric-error")).to_contain_text("at least two options")
    expect(questions.nth(4).locator('[data-key="labels"]')).to_have_attribute("aria-invalid", "true")
    tab.screenshot(path=str(SHOTS / "review-rubric-editor.png"), full_page=True)
    assert len(Queue.objects.get(pk=queue.pk).rubric) == 4
    assert tab.errors == [] and not [m for m in console if "Content Security Policy" in m]  # type: ignore[attr-defined]
