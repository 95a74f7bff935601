"""The dashboards in a real headless Chromium (Debian's /usr/bin/chromium driven by Playwright;
no browser is ever downloaded). Pages are served by pytest-django's live server from the test
database, seeded through the ingest API and the real processing and evaluation code.

Screenshots of every page land in test-artifacts/screenshots/ (light and dark). The last tests check
the Content-Security-Policy: no violation on any page, and the API docs render under it.
"""
from __future__ import annotations

import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

# Playwright's sync API runs an event loop in this thread; Django's ORM (used by the fixtures in
# the same thread) refuses to run next to one unless told the thread is not really async.
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")

from playwright.sync_api import Browser, Page, expect  # noqa: E402

CHROMIUM = os.environ.get("OBSERVATORY_CHROMIUM", "/usr/bin/chromium")
SHOTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "screenshots"
XSS_TEXT = "<script>alert(1)</script>"




@pytest.fixture
def tab(browser: Browser) -> Iterator[Page]:
    context = browser.new_context(viewport={"width": 1400, "height": 1000}, timezone_id="Europe/Paris")
    page = context.new_page()
    page.dialogs = []  # type: ignore[attr-defined]  # any alert() here means injected script ran
    page.accept_dialogs = False  # type: ignore[attr-defined]  # a test expecting a confirm() sets it

    def on_dialog(dialog: Any) -> None:
        page.dialogs.append(dialog.message)  # type: ignore[attr-defined]
        dialog.accept() if page.accept_dialogs else dialog.dismiss()  # type: ignore[attr-defined]

    page.on("dialog", on_dialog)
    page.errors = []  # type: ignore[attr-defined]
    page.on("pageerror", lambda error: page.errors.append(str(error)))  # type: ignore[attr-defined]
    yield page
    context.close()


def sign_in(tab: Page, base: str, username: str = "owner", password: str = "pw-owner-123") -> None:
    tab.goto(f"{base}/")
    expect(tab).to_have_url(f"{base}/accounts/login/?next=/")
    tab.get_by_label("Username").fill(username)
    tab.get_by_label("Password").fill(password)
    tab.get_by_role("button", name="Sign in").click()
    tab.wait_for_load_state("networkidle")


def shoot(tab: Page, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    tab.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)


# A chart is drawn when plotly.js has laid it out (`_fullLayout`) and put a `g.trace` in its SVG for
# every visible trace of its data. Under load (2 cores shared by a whole test run) loading plotly.js
# and drawing took more than the 5 s an `expect` waits by default; this waits for the chart's own
# state, up to a minute, and returns as soon as it holds, so a fast run is not slowed.
CHART_DRAWN = """el => !!el._fullLayout && !!el.querySelector('.main-svg')
    && el.querySelectorAll('g.trace').length >= el._fullData.filter(t => t.visible === true).length"""
DRAW_TIMEOUT_MS = 60_000
# A trace type the served bundle lacks (the basic one holds bar, pie and scatter) is drawn as an
# invisible scatter with no error: compare each trace's type with the one the figure asked for.
TYPES_DRAWN = "el => el._fullData.filter(t => t.type !== (t._input.type || 'scatter')).map(t => t._input.type)"


def drawn(tab: Page, chart_id: str) -> None:
    chart = tab.locator(f'[data-testid="chart-{chart_id}"]')
    chart.wait_for(state="attached", timeout=DRAW_TIMEOUT_MS)
    chart.scroll_into_view_if_needed()  # a chart below the first screen is drawn as it comes near
    tab.wait_for_function(CHART_DRAWN, arg=chart.element_handle(timeout=DRAW_TIMEOUT_MS),
                          timeout=DRAW_TIMEOUT_MS)
    assert chart.evaluate(TYPES_DRAWN) == [], f"chart {chart_id} has trace types the served plotly.js lacks"


def traces(tab: Page, chart_id: str) -> int:
    """Traces plotly.js actually drew into the chart's SVG."""
    drawn(tab, chart_id)
    chart = tab.locator(f'[data-testid="chart-{chart_id}"]')
    expect(chart.locator(".main-svg").first).to_be_visible()
    return chart.locator("g.trace").count()


@pytest.fixture
def signed_in(tab: Page, live_server: Any, seeded: Any) -> Page:
    sign_in(tab, live_server.url)
    return tab


def test_sign_in_lands_on_the_overview_with_drawn_charts(signed_in: Page, live_server: Any, seeded: Any) -> None:
    tab = signed_in
    expect(tab).to_have_url(f"{live_server.url}/projects/{seeded.id}/")
    expect(tab.get_by_test_id("tile-calls").locator(".value")).to_have_text("41")
    assert traces(tab, "calls") == 2  # calls and errors
    assert traces(tab, "latency") == 3  # p50, p95, p99
    assert traces(tab, "cost") == 1
    expect(tab.get_by_text("Times in Europe/Paris")).to_be_visible()
    shoot(tab, "overview")
    assert not tab.errors and not tab.dialogs


AT_LOAD = """window.addEventListener("load", () => {
  window.__atLoad = [...document.querySelectorAll("[data-figure]")].map(el =>
    ({id: el.dataset.figure, top: el.getBoundingClientRect().top, drawn: el.classList.contains("js-plotly-plot")}));
});"""


def test_charts_on_the_first_screen_are_drawn_by_the_load_event_and_the_rest_as_they_come_near(
        signed_in: Page, live_server: Any, seeded: Any) -> None:
    tab = signed_in
    tab.set_viewport_size({"width": 1400, "height": 600})
    tab.add_init_script(AT_LOAD)
    tab.goto(f"{live_server.url}/projects/{seeded.id}/?range=24h", wait_until="load")
    charts = tab.evaluate("window.__atLoad")
    visible = [c for c in charts if c["top"] < 600]
    far = [c for c in charts if c["top"] > 2 * 600 + 100]  # beyond the screen drawn ahead
    assert visible and far, charts
    assert all(c["drawn"] for c in visible), visible
    assert not any(c["drawn"] for c in far), far
    tab.wait_for_timeout(300)
    last = tab.locator(f'[data-figure="{far[-1]["id"]}"]')
    assert "js-plotly-plot" not in (last.get_attribute("class") or "")  # not drawn until it comes near
    last.scroll_into_view_if_needed()
    expect(last).to_have_class(re.compile(r"js-plotly-plot"))
    # Printing draws every chart first.
    tab.goto(f"{live_server.url}/projects/{seeded.id}/?range=24h", wait_until="load")
    tab.evaluate("window.dispatchEvent(new Event('beforeprint'))")
    expect(tab.locator("[data-figure]:not(.js-plotly-plot)")).to_have_count(0)
    assert not tab.errors


def test_a_filter_applied_through_htmx_changes_tiles_charts_and_url(signed_in: Page, seeded: Any) -> None:
    tab = signed_in
    tab.evaluate("window.__sameDocument = true")  # survives only if htmx swapped the body in place
    before = tab.locator('[data-testid="chart-calls"] g.trace').first.inner_html()
    tab.get_by_label("Model", exact=True).select_option("house-model")
    expect(tab).to_have_url(re.compile(r"\?range=24h&model=house-model$"))
    expect(tab.get_by_test_id("tile-calls").locator(".value")).to_have_text("13")
    assert tab.evaluate("window.__sameDocument") is True
    assert traces(tab, "calls") == 2
    assert tab.locator('[data-testid="chart-calls"] g.trace').first.inner_html() != before
    shoot(tab, "overview-filtered")


@pytest.mark.parametrize(("path", "charts", "testids"), [
    ("cost/", {"cost-by": 1, "cost-per-call": 1}, ["unpriced-models", "top-users"]),
    ("latency/", {"latency-percentiles": 4, "ttft": 1, "latency-histogram": 1}, ["slowest-calls"]),
    ("quality/", {"score-trend": 1, "score-distribution": 1, "flag-rates": 1, "thumbs": 1},
     ["worst-prompts", "feedback", "tile-thumbs-down"]),
    ("calls/", {}, []),
    ("people/", {}, []),
    ("settings/", {}, []),
])
def test_every_page_renders_with_seeded_data(signed_in: Page, live_server: Any, seeded: Any, path: str,
                                              charts: dict[str, int], testids: list[str]) -> None:
    tab = signed_in
    tab.goto(f"{live_server.url}/projects/{seeded.id}/{path}?range=24h")
    tab.wait_for_load_state("networkidle")
    for chart_id, minimum in charts.items():
        assert traces(tab, chart_id) >= minimum, chart_id
    for testid in testids:
        expect(tab.get_by_test_id(testid)).to_be_visible()
    shoot(tab, path.strip("/") or "overview")
    assert not tab.errors and not tab.dialogs


def test_calls_explorer_filters_and_opens_a_call_with_its_trace_tree(signed_in: Page, live_server: Any,
                                                                     seeded: Any) -> None:
    tab = signed_in
    tab.goto(f"{live_server.url}/projects/{seeded.id}/calls/?range=24h")
    rows = tab.locator("tbody tr")
    all_rows = rows.count()
    tab.get_by_label("Status", exact=True).select_option("error")
    expect(tab).to_have_url(re.compile(r"status=error"))
    expect(rows).to_have_count(5)
    assert all_rows > 5
    tab.goto(f"{live_server.url}/projects/{seeded.id}/calls/agent-llm")
    expect(tab.get_by_test_id("trace-tree")).to_be_visible()
    expect(tab.get_by_test_id("trace-span")).to_have_count(3)
    shoot(tab, "call-detail")
    tab.get_by_test_id("trace-span").first.get_by_role("link").first.click()
    tab.wait_for_load_state("networkidle")
    expect(tab.get_by_test_id("trace-tree")).to_be_visible()


def test_llm_output_with_markup_is_shown_as_text_everywhere(signed_in: Page, live_server: Any, seeded: Any) -> None:
    tab = signed_in
    base = f"{live_server.url}/projects/{seeded.id}"
    tab.goto(f"{base}/calls/?range=24h")
    expect(tab.get_by_text(XSS_TEXT, exact=False).first).to_be_visible()
    tab.goto(f"{base}/calls/xss-call")
    output = tab.get_by_test_id("call-output")
    expect(output).to_contain_text(XSS_TEXT)
    expect(output).to_contain_text("onerror")
    assert tab.locator("main img").count() == 0  # the <img onerror> is text, not an element
    shoot(tab, "call-detail-xss")
    for path in ("/", "/people/", "/quality/", "/latency/", "/cost/"):
        tab.goto(f"{base}{path}?range=24h")
        tab.wait_for_load_state("networkidle")
    assert tab.dialogs == []  # no alert() ever ran


def test_an_owner_creates_and_revokes_an_api_key(signed_in: Page, live_server: Any, seeded: Any) -> None:
    tab = signed_in
    tab.goto(f"{live_server.url}/projects/{seeded.id}/settings/")
    keys_before = tab.get_by_test_id("key-row").count()
    tab.get_by_label("Key name").fill("browser key")
    tab.get_by_label("ingest", exact=False).first.check()
    tab.get_by_role("button", name="Create key").click()
    new_key = tab.get_by_test_id("new-key")
    expect(new_key).to_contain_text("obs_")
    expect(tab.get_by_test_id("key-row")).to_have_count(keys_before + 1)
    shoot(tab, "settings-new-key")
    tab.reload()
    expect(tab.get_by_test_id("new-key")).to_have_count(0)  # shown once
    row = tab.get_by_test_id("key-row").filter(has_text="browser key")
    tab.accept_dialogs = True  # type: ignore[attr-defined]  # "Revoke this key?"
    row.get_by_test_id("revoke-key").click()
    tab.wait_for_load_state("networkidle")
    expect(tab.get_by_test_id("key-row").filter(has_text="browser key")).to_contain_text("Revoked")
    assert len(tab.dialogs) == 1  # type: ignore[attr-defined]  # the confirmation, and nothing else


def test_dark_mode_and_a_viewer_without_settings_forms(browser: Browser, live_server: Any, seeded: Any,
                                                       viewer: Any) -> None:
    context = browser.new_context(viewport={"width": 1400, "height": 1000}, color_scheme="dark")
    tab = context.new_page()
    try:
        sign_in(tab, live_server.url, "viewer", "pw-viewer-123")
        assert traces(tab, "calls") == 2
        background = tab.evaluate("getComputedStyle(document.body).backgroundColor")
        assert background == "rgb(13, 17, 23)"
        shoot(tab, "overview-dark")
        tab.goto(f"{live_server.url}/projects/{seeded.id}/settings/")
        expect(tab.get_by_role("button", name="Create key")).to_have_count(0)
        expect(tab.get_by_test_id("key-row")).to_have_count(0)
    finally:
        context.close()


def test_keyboard_reaches_the_filters_and_every_input_has_a_label(signed_in: Page) -> None:
    tab = signed_in
    unlabeled = tab.evaluate("""[...document.querySelectorAll('input:not([type=hidden]), select, textarea')]
        .filter(el => !(el.labels && el.labels.length) && !el.getAttribute('aria-label')).map(el => el.outerHTML)""")
    assert unlabeled == []
    tab.keyboard.press("Tab")
    assert tab.evaluate("document.activeElement.textContent") == "Skip to content"
    for _ in range(30):  # the header and every project tab (Review, Alerts, Drift, Prompts...) come first
        tab.keyboard.press("Tab")
        if tab.evaluate("document.activeElement.id") == "range":
            break
    assert tab.evaluate("document.activeElement.id") == "range"


def test_no_chart_offers_a_cloud_action_and_no_page_asks_another_host(signed_in: Page, live_server: Any,
                                                                      seeded: Any) -> None:
    tab = signed_in
    hosts: set[str] = set()
    tab.on("request", lambda request: hosts.add(request.url.split("/")[2]))
    base = f"{live_server.url}/projects/{seeded.id}"
    for path in ("", "cost/", "latency/", "quality/", "calls/", "people/", "settings/", "alerts/", "review/",
                 "drift/", "prompts/"):
        tab.goto(f"{base}/{path}?range=24h")
        tab.wait_for_load_state("networkidle")
    tab.goto(f"{base}/?range=24h")
    tab.wait_for_load_state("networkidle")
    chart = tab.locator('[data-testid="chart-calls"]')
    chart.hover()
    titles = set(chart.locator(".modebar-btn").evaluate_all("buttons => buttons.map(b => b.dataset.title)"))
    assert titles and titles <= {"Download plot as a PNG", "Zoom", "Autoscale", "Reset axes"}, titles
    assert not chart.locator('[data-title*="Cloud"], [data-title*="Chart Studio"], a[href*="plot.ly"]').count()
    assert hosts == {live_server.url.split("/")[2]}, hosts  # nothing but the server itself
    assert not tab.errors


# --- Content-Security-Policy: the pages, their charts and htmx interactions, and the API docs, work
# under it with not one violation (securitypolicyviolation events and console messages both).

CSP_WATCH = """
window.__csp = [];
document.addEventListener("securitypolicyviolation", function (e) {
  window.__csp.push(e.violatedDirective + " " + (e.blockedURI || "inline") + " " + (e.sourceFile || "") + ":" + e.lineNumber);
});
"""


@pytest.fixture
def watched(tab: Page) -> Page:
    """The tab, with every Content-Security-Policy violation it meets recorded."""
    page = tab
    page.add_init_script(CSP_WATCH)
    page.console = []  # type: ignore[attr-defined]
    page.on("console", lambda message: page.console.append(f"{message.type}: {message.text}"))  # type: ignore[attr-defined]
    return page


def csp_violations(page: Page, allowed: str = "^$") -> list[str]:
    reported = [v for v in page.evaluate("window.__csp || []") if not re.search(allowed, v)]
    console = [line for line in page.console  # type: ignore[attr-defined]
               if ("Content Security Policy" in line or "Refused to" in line) and not re.search(allowed, line)]
    return reported + console


def settle_watched(page: Page, url: str) -> None:
    page.goto(url)
    page.wait_for_load_state("networkidle")
    assert csp_violations(page) == [], url


def test_pages_charts_and_htmx_work_without_a_csp_violation(watched: Page, live_server: Any, seeded: Any) -> None:
    page = watched
    page.clock.install()  # auto-refresh is driven from here: a minute passes when the test says so
    sign_in(page, live_server.url)
    from tenancy.services import project_create

    second = project_create(organization=seeded.organization, name="Second bot")  # for the switcher, later
    base = f"{live_server.url}/projects/{seeded.id}"
    assert csp_violations(page) == []
    assert traces(page, "calls") == 2

    # A toolbar filter: htmx swaps the body in place and pushes the URL.
    page.evaluate("window.__sameDocument = true")
    page.get_by_label("Model", exact=True).select_option("house-model")
    expect(page).to_have_url(re.compile(r"model=house-model"))
    expect(page.get_by_test_id("tile-calls").locator(".value")).to_have_text("13")
    assert page.evaluate("window.__sameDocument") is True
    assert traces(page, "calls") == 2

    # Auto-refresh: after a minute the body fetches itself again (a timer in app.js, no eval'd filter).
    with page.expect_request(re.compile(r"/projects/\d+/\?.*model=house-model")) as refresh:
        page.clock.run_for(61_000)
    assert refresh.value.headers.get("hx-request") == "true"

    for path, chart in [("cost/", "cost-by"), ("latency/", "ttft"), ("quality/", "score-trend")]:
        settle_watched(page, f"{base}/{path}?range=24h")
        assert traces(page, chart) >= 1, path

    # The calls explorer's selects apply at once (the "obs-select" trigger sent by app.js).
    settle_watched(page, f"{base}/calls/?range=24h")
    page.get_by_label("Status", exact=True).select_option("error")
    expect(page).to_have_url(re.compile(r"status=error"))
    expect(page.locator("tbody tr")).to_have_count(5)
    for path in ("calls/agent-llm", "traces/trace-agent", "people/", "users/user-1", "settings/"):
        settle_watched(page, f"{base}/{path}")

    # Revoking asks first (data-confirm); dismissed, nothing happens.
    page.get_by_label("Key name").fill("csp key")
    page.get_by_label("ingest", exact=False).first.check()
    page.get_by_role("button", name="Create key").click()
    row = page.get_by_test_id("key-row").filter(has_text="csp key")
    row.get_by_test_id("revoke-key").click()
    assert page.dialogs == ["Revoke this key? Requests using it will fail at once."]  # type: ignore[attr-defined]
    expect(row).not_to_contain_text("Revoked")
    page.accept_dialogs = True  # type: ignore[attr-defined]
    row.get_by_test_id("revoke-key").click()
    expect(page.get_by_test_id("key-row").filter(has_text="csp key")).to_contain_text("Revoked")

    # The project switcher submits on change (data-autosubmit).
    page.locator("#project-switcher").select_option(str(second.id))
    expect(page).to_have_url(re.compile(rf"/projects/{second.id}/"))
    assert csp_violations(page) == []
    assert not page.errors  # type: ignore[attr-defined]

    # The watch itself works: an inline script injected now is refused, reported, and never runs.
    page.evaluate("var s = document.createElement('script'); s.textContent = 'window.__ran = 1';"
                 "document.body.appendChild(s)")
    page.wait_for_function("window.__csp.length > 0")
    assert csp_violations(page)[0].startswith("script-src-elem inline")
    assert page.evaluate("window.__ran") is None


def test_the_api_docs_render_under_the_policy(watched: Page, live_server: Any, db: Any) -> None:
    page = watched
    page.goto(f"{live_server.url}/api/docs/")
    expect(page.locator(".swagger-ui .info .title")).to_contain_text("Observatory API")
    expect(page.locator(".opblock").first).to_be_visible()
    assert csp_violations(page) == []
    page.goto(f"{live_server.url}/api/redoc/")
    # ReDoc parses the whole document (hundreds of kB) before it draws: slow on a loaded machine.
    expect(page.locator("h1").first).to_contain_text("Observatory API", timeout=60_000)
    page.wait_for_load_state("networkidle")
    # ReDoc's "API docs by Redocly" badge is an image from cdn.redoc.ly: kept out on purpose (no
    # third-party requests from our pages), and the only thing the policy refuses there.
    assert csp_violations(page, allowed=r"https://cdn\.redoc\.ly/") == []


def test_a_locked_out_sign_in_says_why_and_how_long(watched: Page, live_server: Any, owner: Any) -> None:
    page = watched
    page.goto(f"{live_server.url}/accounts/login/")
    for n in range(5):
        page.get_by_label("Username").fill("owner")
        page.get_by_label("Password").fill(f"wrong-{n}")
        page.get_by_role("button", name="Sign in").click()
    page.get_by_label("Username").fill("owner")
    page.get_by_label("Password").fill("pw-owner-123")
    with page.expect_response(lambda r: r.url.endswith("/accounts/login/") and r.request.method == "POST") as answer:
        page.get_by_role("button", name="Sign in").click()
    assert answer.value.status == 429
    expect(page.get_by_role("alert")).to_have_text(
        "Too many failed sign-ins. Try again in 15 minutes, or reset your password.")
    expect(page.get_by_role("link", name="Forgot your password?")).to_be_visible()
    shoot(page, "sign-in-locked")
    assert csp_violations(page) == []
