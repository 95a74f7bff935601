from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

import pytest
from django.db import connection
from django.db.models import Sum
from django.test import Client
from django.test.utils import CaptureQueriesContext

from dashboards.context import Page
from dashboards.selectors.analytics import month_bounds, month_projection, month_to_date
from dashboards.templatetags.obs import usd
from telemetry.models import Call
from tests.dashboards.test_overview import figures


def model_calls(project: Any) -> Any:
    return Call.objects.filter(project_id=project.id, kind__in=("llm", "embedding"))


def priced_total(project: Any) -> float:
    return float(model_calls(project).aggregate(total=Sum("cost_total_usd"))["total"])


def stack_total(figure: dict[str, Any]) -> float:
    return sum(v or 0 for trace in figure["data"] for v in trace["y"])


@pytest.mark.parametrize("by", ["model", "feature", "team", "prompt_version"])
def test_stacked_cost_adds_up_to_the_cost_of_priced_calls(owner_client: Client, seeded: Any, by: str) -> None:
    html = owner_client.get(f"/projects/{seeded.id}/cost/?range=24h&by={by}").content.decode()
    chart = figures(html)["cost-by"]
    assert stack_total(chart) == pytest.approx(priced_total(seeded), rel=1e-9)
    assert all(trace["type"] == "bar" for trace in chart["data"]) and chart["layout"]["barmode"] == "stack"
    assert chart["layout"]["yaxis"]["tickprefix"] == "$"


def test_cost_by_model_draws_one_trace_per_model(owner_client: Client, seeded: Any) -> None:
    chart = figures(owner_client.get(f"/projects/{seeded.id}/cost/?range=24h").content.decode())["cost-by"]
    totals = {trace["name"]: sum(v or 0 for v in trace["y"]) for trace in chart["data"]}
    assert set(totals) == {"gpt-4o-mini", "claude-sonnet-4-5", "house-model"}
    assert totals["house-model"] == 0  # unpriced: listed below instead
    expected = float(model_calls(seeded).filter(model="claude-sonnet-4-5").aggregate(t=Sum("cost_total_usd"))["t"])
    assert totals["claude-sonnet-4-5"] == pytest.approx(expected)


def users_part(client: Client, project: Any, query: str = "") -> str:
    response = client.get(f"/projects/{project.id}/cost/?range=24h{query}&part=users")
    assert response.status_code == 200
    return response.content.decode()


def test_top_users_load_after_the_page(owner_client: Client, seeded: Any) -> None:
    html = owner_client.get(f"/projects/{seeded.id}/cost/?range=24h&model=gpt-4o-mini").content.decode()
    section = re.search(r'<section class="panel" id="cost-users"[^>]*>', html).group(0)
    assert 'hx-trigger="load"' in section and "part=users" in section and "model=gpt-4o-mini" in section
    assert 'data-testid="top-users"' not in html
    assert "{#" not in html and "{%" not in html  # no template syntax leaked as text


def test_cost_by_user_draws_top_users_daily_and_everyone_else(owner_client: Client, seeded: Any) -> None:
    html = owner_client.get(f"/projects/{seeded.id}/cost/?range=24h&by=user").content.decode()
    assert 'id="cost-by-users"' in html and "cost-by" not in figures(html)
    fragment = users_part(owner_client, seeded, "&by=user")
    assert '<div id="cost-by-users" hx-swap-oob="true">' in fragment
    chart = figures(fragment)["cost-by"]
    assert [trace["name"] for trace in chart["data"]][-1] == "everyone else"
    assert {trace["name"] for trace in chart["data"][:-1]} == {f"user-{i}" for i in range(5)}
    assert stack_total(chart) == pytest.approx(priced_total(seeded))  # users, plus the call without a user
    no_user = model_calls(seeded).filter(user_id="").aggregate(t=Sum("cost_total_usd"))["t"]
    assert sum(chart["data"][-1]["y"]) == pytest.approx(float(no_user))
    assert all(x.endswith("T00:00:00") for x in chart["data"][0]["x"])  # whole UTC days
    assert "per-user daily rollups" in html


def test_top_users_and_features_tables(owner_client: Client, seeded: Any) -> None:
    users = re.search(r'data-testid="top-users">(.*?)</table>', users_part(owner_client, seeded), re.S).group(1)
    ranked = list(model_calls(seeded).exclude(user_id="").values("user_id").annotate(c=Sum("cost_total_usd"))
                  .order_by("-c").values_list("user_id", flat=True))
    assert re.findall(r">(user-\d)</a>", users) == ranked
    assert f"/projects/{seeded.id}/users/user-" in users
    html = owner_client.get(f"/projects/{seeded.id}/cost/?range=24h").content.decode()
    features = re.search(r'data-testid="top-features">(.*?)</table>', html, re.S).group(1)
    assert re.findall(r"feature=(\w+)", features) == ["chat", "search"]  # chat has 3 calls in 4


def test_cost_per_call_divides_by_priced_calls_per_interval(owner_client: Client, seeded: Any) -> None:
    chart = figures(owner_client.get(f"/projects/{seeded.id}/cost/?range=24h").content.decode())["cost-per-call"]
    got = {x: y for x, y in zip(chart["data"][0]["x"], chart["data"][0]["y"], strict=True) if y is not None}
    bins: dict[str, list[Decimal]] = {}
    for start, cost in model_calls(seeded).exclude(cost_source="unknown").values_list("start_time", "cost_total_usd"):
        bins.setdefault(start.replace(minute=0, second=0, microsecond=0, tzinfo=None).isoformat(), []).append(cost)
    assert got == pytest.approx({hour: float(sum(costs) / len(costs)) for hour, costs in bins.items()})


def test_unpriced_models_are_listed_with_a_link_to_price_them(owner_client: Client, seeded: Any) -> None:
    html = owner_client.get(f"/projects/{seeded.id}/cost/?range=24h").content.decode()
    section = re.search(r'<section id="unpriced".*?</section>', html, re.S).group(0)
    table = re.search(r'data-testid="unpriced-models">(.*?)</table>', section, re.S).group(1)
    assert "house-model" in table and "gpt-4o-mini" not in table
    assert f'href="/projects/{seeded.id}/settings/?price_model=house-model#prices"' in table
    assert re.search(r'class="num">13</td>', table)  # i % 3 == 2 for i < 40


def test_month_projection_divides_by_the_share_of_the_month_elapsed() -> None:
    now = datetime(2026, 2, 8, tzinfo=timezone.utc)  # 7 of February's 28 days
    month = month_projection(Decimal("10"), now, "UTC")
    assert month["days"] == 28 and month["fraction"] == 0.25
    assert month["projection"] == pytest.approx(Decimal("40"))


def test_month_follows_the_viewers_time_zone() -> None:
    now = datetime(2026, 3, 1, 3, 0, tzinfo=timezone.utc)  # still 22:00 on Feb 28 in New York
    start, end = month_bounds(now, "America/New_York")
    assert (start, end) == (datetime(2026, 2, 1, 5, tzinfo=timezone.utc), datetime(2026, 3, 1, 5, tzinfo=timezone.utc))
    month = month_projection(Decimal("27.5"), now, "America/New_York")
    assert month["fraction"] == pytest.approx((27 * 24 + 22) / (28 * 24))
    assert float(month["projection"]) == pytest.approx(27.5 / month["fraction"])


def test_month_to_date_sums_this_months_calls_on_a_fixed_clock(seeded: Any) -> None:
    now = datetime.now(timezone.utc).replace(second=0, microsecond=0) + timedelta(minutes=1)
    page = Page(project=seeded, role="owner", start=now - timedelta(days=1), end=now, range_key="24h",
                interval=timedelta(hours=1), tz="UTC")
    month = month_to_date(page, now)
    start, _ = month_bounds(now, "UTC")
    expected = model_calls(seeded).filter(start_time__gte=start).aggregate(t=Sum("cost_total_usd"))["t"]
    assert month["spent"] == expected
    assert month["projection"] == pytest.approx(expected / Decimal(str(month["fraction"])))


def test_page_shows_month_to_date_and_explains_the_projection(owner_client: Client, seeded: Any) -> None:
    html = owner_client.get(f"/projects/{seeded.id}/cost/?range=24h").content.decode()
    start, _ = month_bounds(datetime.now(timezone.utc), "UTC")
    spent = model_calls(seeded).filter(start_time__gte=start).aggregate(t=Sum("cost_total_usd"))["t"]
    tile = re.search(r'data-testid="tile-mtd">.*?class="value">([^<]+)<', html, re.S).group(1)
    assert tile == usd(spent)
    assert re.search(r'data-testid="tile-projection"\s+title="Projection = month-to-date cost ÷ share of the month',
                     html)


def test_chooser_joins_the_toolbar_form_and_bad_values_fall_back(owner_client: Client, seeded: Any) -> None:
    html = owner_client.get(f"/projects/{seeded.id}/cost/?range=24h&by=nonsense").content.decode()
    assert re.search(r'<label for="cost-by-select">[^<]*<select id="cost-by-select" name="by" form="toolbar">', html)
    assert '<option value="model" selected>' in html
    assert 'hx-include="#toolbar"' in html


def test_filters_needing_minutes_of_the_every_dimension_cube_explain_instead_of_failing(
        owner_client: Client, seeded: Any) -> None:
    response = owner_client.get(f"/projects/{seeded.id}/cost/?range=1h&by=feature&model=gpt-4o-mini")
    assert response.status_code == 200
    html = response.content.decode()
    assert 'data-testid="cost-by-notice"' in html and "whole hours" in html
    assert "cost-per-call" in figures(html)


def test_empty_range_says_so(owner_client: Client, seeded: Any) -> None:
    html = owner_client.get(f"/projects/{seeded.id}/cost/?range=custom&from=2020-01-01T00:00&to=2020-01-02T00:00"
                            ).content.decode()
    assert 'data-testid="empty-range"' in html and not figures(html)


@pytest.mark.parametrize("query", ["by=model", "by=user", "by=user&part=users"])
def test_query_count_does_not_grow_with_data(owner_client: Client, seeded: Any, full_api: Any, query: str) -> None:
    from telemetry.services import project_process

    url = f"/projects/{seeded.id}/cost/?range=24h&{query}"
    with CaptureQueriesContext(connection) as before:
        owner_client.get(url)
    full_api.ingest([{"type": "call", "id": f"more-{i}", "model": f"m-{i}", "feature": f"f-{i}",
                      "user_id": f"u-{i}", "latency_ms": 10} for i in range(30)])
    project_process(project_id=seeded.id)
    with CaptureQueriesContext(connection) as after:
        owner_client.get(url)
    assert len(after.captured_queries) == len(before.captured_queries)


def test_strangers_get_404(outsider_client: Client, seeded: Any) -> None:
    assert outsider_client.get(f"/projects/{seeded.id}/cost/").status_code == 404
