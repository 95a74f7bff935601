"""The calls explorer in headless Chromium at 1440x900, walked like a user: a screen of one-line
rows, the whole text on hover and on expand, the chosen columns kept across a reload, ticked rows
and all matching calls sent to a review queue, the total and the suggestions."""
from __future__ import annotations

import os
import re
from collections.abc import Iterator
from typing import Any

import pytest

os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")  # the ORM beside Playwright's loop

from playwright.sync_api import Browser, Page, expect  # noqa: E402

from review.models import Item  # noqa: E402
from review.services import queue_create  # noqa: E402
from tests.dashboards.conftest import recent  # noqa: E402
from tests.dashboards.test_browser import shoot, sign_in  # noqa: E402

LONG = "The refund policy allows returns within thirty days of delivery. " * 12


@pytest.fixture
def tab(browser: Browser) -> Iterator[Page]:
    context = browser.new_context(viewport={"width": 1440, "height": 900})
    page = context.new_page()
    page.errors = []  # type: ignore[attr-defined]
    page.on("pageerror", lambda error: page.errors.append(str(error)))  # type: ignore[attr-defined]
    page.on("dialog", lambda dialog: dialog.accept())  # "Add all matching" asks first
    yield page
    context.close()


@pytest.fixture
def explorer(tab: Page, live_server: Any, seeded: Any, full_api: Any) -> Page:
    from telemetry.services import project_process

    assert full_api.ingest([{"type": "call", "id": "long-answer", "timestamp": recent(1), "model": "gpt-4o-mini",
                             "input": "What is the refund policy?", "output": LONG,
                             "user_id": "a-very-long-user-identifier-from-the-identity-provider-0001"}]).status_code == 202
    while project_process(project_id=seeded.id):
        pass
    sign_in(tab, live_server.url)
    tab.goto(f"{live_server.url}/projects/{seeded.id}/calls/?range=24h")
    return tab


def visible_rows(tab: Page) -> int:
    return tab.evaluate("""() => [...document.querySelectorAll('[data-testid=call-row]')]
        .filter(row => { const box = row.getBoundingClientRect(); return box.top >= 0 && box.bottom <= innerHeight; })
        .length""")


def row_cut(tab: Page, selector: str) -> int:
    """How many of these cells (first page rows) show an ellipsis instead of their whole text."""
    return tab.evaluate("""sel => [...document.querySelectorAll('[data-testid=call-row] ' + sel)]
        .filter(el => { const cell = el.closest('td'); return cell.scrollWidth > cell.clientWidth; }).length""", selector)


def test_a_screen_holds_many_one_line_rows_with_the_whole_text_on_hover_and_expand(explorer: Page) -> None:
    tab = explorer
    expect(tab.get_by_test_id("total")).to_have_text("42 calls")  # loaded after the page
    assert visible_rows(tab) >= 15
    # Every default column fits: nothing to scroll sideways for, and times and costs are not cut.
    assert tab.locator(".table-scroll").evaluate("el => el.scrollWidth <= el.clientWidth")
    for cell in ("td.nowrap a", "td.col-cost"):
        assert row_cut(tab, cell) == 0, cell
    row = tab.locator('[data-call="long-answer"]')
    output = row.locator(".col-output .clip")
    height = row.bounding_box()["height"]
    assert height < 32  # one line
    assert output.evaluate("el => el.scrollWidth > el.clientWidth")  # clipped...
    assert output.get_attribute("title") == LONG.strip()[:500] + "…"  # ...whole (up to 500 characters) on hover
    user = row.locator(".col-user .clip")
    assert user.evaluate("el => el.scrollWidth > el.clientWidth")  # a long user id does not break the row
    row.get_by_role("button", name="Expand").click()
    expect(row).to_have_class("expanded")
    assert row.bounding_box()["height"] > 3 * height
    assert not output.evaluate("el => el.scrollWidth > el.clientWidth")
    shoot(tab, "explorer-1440")
    assert tab.errors == []  # type: ignore[attr-defined]


def test_chosen_columns_are_kept_across_a_reload(explorer: Page) -> None:
    tab = explorer
    table = tab.get_by_test_id("calls-table")
    expect(table.locator("th.col-session")).to_be_hidden()
    tab.get_by_text("Columns", exact=True).click()
    tab.get_by_role("checkbox", name="Session", exact=True).check()
    tab.get_by_role("checkbox", name="Output", exact=True).uncheck()
    expect(table.locator("th.col-session")).to_be_visible()
    expect(table.locator("th.col-output")).to_be_hidden()
    tab.reload()
    table = tab.get_by_test_id("calls-table")
    expect(table.locator("th.col-session")).to_be_visible()
    expect(table.locator("th.col-output")).to_be_hidden()
    # Kept through an htmx swap of the table too (a filter applied).
    tab.get_by_label("Kind").select_option("all")
    expect(tab.locator('[data-call="agent-root"]')).to_be_visible()
    expect(tab.get_by_test_id("calls-table").locator("th.col-output")).to_be_hidden()


def test_search_terms_are_highlighted_and_suggestions_offered(explorer: Page, live_server: Any, seeded: Any) -> None:
    tab = explorer
    tab.get_by_label("Search input and output").fill("refund")
    tab.get_by_label("Search input and output").press("Enter")
    mark = tab.locator('[data-call="long-answer"] .col-output mark').first
    expect(mark).to_have_text("refund")
    assert tab.locator("datalist#score-names option").count() >= 1
    assert tab.get_by_label("Flag", exact=True).get_attribute("list") == "flag-names"


def test_ticked_rows_and_all_matching_calls_go_to_a_review_queue(explorer: Page, seeded: Any, owner: Any) -> None:
    queue = queue_create(project=seeded, actor=owner, data={"name": "Explorer picks",
                                                            "rubric": [{"name": "ok", "kind": "boolean"}]})
    tab = explorer
    tab.reload()
    tab.get_by_label("Select call c-3", exact=True).check()
    tab.get_by_label("Select call c-5", exact=True).check()
    expect(tab.get_by_test_id("add-selected")).to_have_text("Add selected (2)")
    tab.get_by_test_id("add-selected").click()
    expect(tab.get_by_test_id("queue-result")).to_contain_text("Added 2 of 2 calls to Explorer picks")
    assert set(Item.objects.filter(queue=queue).values_list("call__external_id", flat=True)) == {"c-3", "c-5"}
    # Every call matching the filters: errors only (5), the two ticked ones are not among them.
    tab.get_by_label("Status").select_option("error")
    expect(tab.get_by_test_id("call-row")).to_have_count(5)
    tab.get_by_test_id("add-matching").click()
    expect(tab.get_by_test_id("queue-result")).to_contain_text("Added 4 of 5 calls")  # c-3 was already in it
    assert Item.objects.filter(queue=queue).count() == 6


def test_the_trace_page_shows_totals_tree_and_span_above_the_fold(explorer: Page, live_server: Any,
                                                                  seeded: Any) -> None:
    tab = explorer
    tab.goto(f"{live_server.url}/projects/{seeded.id}/traces/trace-agent?range=24h")
    totals, tree, detail = (tab.get_by_test_id(t) for t in ("trace-totals", "trace-tree", "span-detail"))
    expect(tab.get_by_test_id("trace-tokens")).to_have_text("390")
    for part in (totals, tree, detail):
        assert part.bounding_box()["y"] < 900 - 100  # in the first screen
    assert totals.bounding_box()["y"] + totals.bounding_box()["height"] < 900
    tree_box, detail_box = tree.bounding_box(), detail.bounding_box()
    assert tree_box["x"] + tree_box["width"] <= detail_box["x"]  # tree left, detail right
    assert abs(tree_box["y"] - detail_box["y"]) < 5
    expect(detail).to_contain_text("answer-ticket")  # the root first
    tab.get_by_test_id("trace-span").filter(has_text="draft-reply").click()
    expect(detail.get_by_test_id("span-output")).to_contain_text("Dear customer")
    expect(tab).to_have_url(re.compile(r"span=agent-llm"))
    expect(tab.get_by_test_id("trace-span").filter(has_text="draft-reply")).to_have_attribute("aria-current", "true")
    shoot(tab, "trace-1440")
    tab.go_back()
    expect(tab.get_by_test_id("span-detail")).to_contain_text("answer-ticket")
    assert tab.errors == []  # type: ignore[attr-defined]


def test_the_feedback_inbox_filters_and_links_to_calls(explorer: Page, live_server: Any, seeded: Any) -> None:
    tab = explorer
    tab.goto(f"{live_server.url}/projects/{seeded.id}/feedback/?range=24h")
    items = tab.get_by_test_id("inbox-item")
    expect(items).to_have_count(4)  # the seed's four thumbs-down comments
    tab.get_by_label("Thumbs").select_option("up")
    expect(tab.get_by_test_id("empty-state")).to_be_visible()
    expect(tab).to_have_url(re.compile(r"thumbs=up"))
    tab.get_by_label("Thumbs").select_option("down")
    expect(items).to_have_count(4)
    tab.get_by_label("Feature").select_option("search")
    expect(items).to_have_count(4)
    tab.get_by_label("Model").select_option("house-model")
    expect(tab.get_by_test_id("empty-state")).to_contain_text("match these filters")
    tab.goto(f"{live_server.url}/projects/{seeded.id}/feedback/?range=24h&thumbs=down")
    items.first.get_by_test_id("inbox-call").click()
    expect(tab).to_have_url(re.compile(r"/calls/c-\d+"))
    expect(tab.get_by_test_id("call-output")).to_be_visible()
