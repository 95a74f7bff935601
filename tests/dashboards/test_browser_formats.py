"""Charts speak the tiles' units (issue 17 §5): read in Chromium what a user reads, the axis labels
and the hover box, for the latency and the cost charts."""
from __future__ import annotations

import os
import re
from typing import Any

os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")  # as in test_browser: fixtures beside Playwright

from playwright.sync_api import Browser, Page  # noqa: E402

from dashboards.templatetags.obs import duration, usd  # noqa: E402
from tests.dashboards.test_browser import drawn, sign_in  # noqa: E402

# The pixel position of the chart's first trace's largest point, from the drawn axes.
LARGEST_POINT = """el => {
  const trace = el._fullData[0], xa = el._fullLayout.xaxis, ya = el._fullLayout.yaxis;
  let best = -1;
  trace.y.forEach((v, i) => { if (v !== null && (best < 0 || v > trace.y[best])) { best = i; } });
  return {x: xa._offset + xa.d2p(trace.x[best]), y: ya._offset + ya.d2p(trace.y[best])};
}"""


def hover_text(tab: Page, chart_id: str) -> str:
    """Moves the mouse onto the chart's largest point and returns what the hover box says."""
    chart = tab.locator(f'[data-testid="chart-{chart_id}"]')
    drawn(tab, chart_id)
    point = chart.evaluate(LARGEST_POINT)
    box = chart.bounding_box()
    assert box is not None
    tab.mouse.move(box["x"] + point["x"], box["y"] + point["y"])
    hover = chart.locator(".hoverlayer")
    tab.wait_for_function("el => el.textContent.trim().length > 0", arg=hover.element_handle())
    return hover.evaluate("el => [...el.querySelectorAll('text')].map(t => t.textContent).join('\\n')")


def tick_labels(tab: Page, chart_id: str, axis: str = "y") -> list[str]:
    drawn(tab, chart_id)
    ticks = tab.locator(f'[data-testid="chart-{chart_id}"] .{axis}tick text')  # SVG: no innerText
    return ticks.evaluate_all("texts => texts.map(t => t.textContent)")


def test_latency_and_cost_charts_read_like_the_tiles(browser: Browser, live_server: Any, seeded: Any) -> None:
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    tab = context.new_page()
    try:
        sign_in(tab, live_server.url)
        tab.goto(f"{live_server.url}/projects/{seeded.id}/latency/?range=24h")
        tile = tab.get_by_test_id("tile-p95").locator(".value").inner_text()
        assert tile.endswith(" s"), tile  # the slowest calls take 2.5 s
        ticks = [t for t in tick_labels(tab, "latency-percentiles") if t.strip()]
        assert ticks and all(re.fullmatch(r"[\d.]+ s", t) for t in ticks), ticks  # not "2,000 ms"
        values = re.findall(r"p\d\d: ([^\n]+)", hover_text(tab, "latency-percentiles"))
        assert values and all(duration(_ms(v)) == v for v in values), values  # 420 ms, 2.5 s, as the tiles

        tab.goto(f"{live_server.url}/projects/{seeded.id}/cost/?range=24h")
        amounts = re.findall(r"\$[\d,.]+", hover_text(tab, "cost-per-call"))
        # Each amount is what usd() writes for it: two decimals, two significant digits below $1.
        assert amounts and all(usd(float(a[1:].replace(",", ""))) == a for a in amounts), amounts
    finally:
        context.close()


def _ms(text: str) -> float:
    number, unit = text.split()
    return float(number) * {"ms": 1, "s": 1000, "min": 60_000}[unit]
