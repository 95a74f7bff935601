from __future__ import annotations

import itertools
import re
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from rollups.selectors import Query, distribution
from rollups.sketch import value_of
from telemetry.models import Call
from tests.dashboards.test_overview import figures


def timed_calls(project: Any) -> Any:
    return Call.objects.filter(project_id=project.id, kind__in=("llm", "embedding"), latency_ms__isnull=False)


def test_percentiles_and_ttft_over_time(owner_client: Client, seeded: Any) -> None:
    html = owner_client.get(f"/projects/{seeded.id}/latency/?range=24h").content.decode()
    assert "{#" not in html and "{%" not in html  # no template syntax leaked as text
    charts = figures(html)
    assert [t["name"] for t in charts["latency-percentiles"]["data"]] == ["p50", "p90", "p95", "p99"]
    assert [t["name"] for t in charts["ttft"]["data"]] == ["p50", "p90", "p95", "p99"]
    # The slowest calls take 2.5 s: in seconds, as the tiles say it (axis and title); each hover in
    # the tile's own words (420 ms, 2.5 s).
    assert charts["latency-percentiles"]["layout"]["yaxis"]["ticksuffix"] == " s"
    assert charts["latency-percentiles"]["layout"]["yaxis"]["title"]["text"] == "latency (s)"
    lines = [[v for v in trace["y"] if v is not None] for trace in charts["latency-percentiles"]["data"]]
    assert all(a <= b for lower, upper in itertools.pairwise(lines) for a, b in zip(lower, upper, strict=True))
    assert max(lines[3]) <= 2.5 * 1.01 and min(lines[0]) >= 0.2 * 0.99
    hovers = [h for h in charts["latency-percentiles"]["data"][3]["customdata"] if h != "–"]
    assert hovers and all(re.fullmatch(r"\d+ ms|\d+\.\d s", h) for h in hovers), hovers


def test_grouped_percentiles_draw_the_chosen_percentile_per_group(owner_client: Client, seeded: Any) -> None:
    html = owner_client.get(f"/projects/{seeded.id}/latency/?range=24h&by=model&pct=p99").content.decode()
    chart = figures(html)["latency-percentiles"]
    assert chart["layout"]["title"]["text"] == "Latency p99 by model"
    assert {t["name"] for t in chart["data"]} == {"gpt-4o-mini", "claude-sonnet-4-5", "house-model"}
    assert '<option value="p99" selected>' in html and '<option value="model" selected>' in html
    assert re.search(r'<label for="latency-pct">[^<]*<select id="latency-pct" name="pct" form="toolbar"', html)


def test_histogram_bins_hold_every_timed_call(owner_client: Client, seeded: Any) -> None:
    chart = figures(owner_client.get(f"/projects/{seeded.id}/latency/?range=24h").content.decode())["latency-histogram"]
    counts = chart["data"][0]["y"]
    assert sum(counts) == timed_calls(seeded).count() == 41
    assert 10 <= len(counts) <= 30
    assert chart["data"][0]["customdata"][-1] == "2.4 s–2.7 s"  # the 2.5 s call, in a round-edged bin


def test_histogram_follows_the_filters(owner_client: Client, seeded: Any) -> None:
    html = owner_client.get(f"/projects/{seeded.id}/latency/?range=24h&model=house-model").content.decode()
    assert sum(figures(html)["latency-histogram"]["data"][0]["y"]) == 13


def test_distribution_merges_the_sketches_of_the_range(seeded: Any) -> None:
    now = datetime.now(timezone.utc)
    query = Query(project_id=seeded.id, start=now - timedelta(days=1), end=now + timedelta(minutes=1),
                  interval=timedelta(hours=1), group_by=("model",))  # both ignored: one histogram
    keys, counts = distribution(query, "latency")
    assert list(keys) == sorted(set(keys)) and int(counts.sum()) == 41
    values = sorted(timed_calls(seeded).values_list("latency_ms", flat=True))
    assert value_of(int(keys[0])) == pytest.approx(values[0], rel=0.01)
    assert value_of(int(keys[-1])) == pytest.approx(values[-1], rel=0.01)
    _, ttft = distribution(query, "ttft")
    assert int(ttft.sum()) == 40  # the trace's llm call sent no time to first token


def test_slowest_calls_are_ordered_and_link_to_the_call(owner_client: Client, seeded: Any) -> None:
    html = owner_client.get(f"/projects/{seeded.id}/latency/?range=24h").content.decode()
    table = re.search(r'data-testid="slowest-calls">(.*?)</table>', html, re.S).group(1)
    ids = re.findall(rf'href="/projects/{seeded.id}/calls/([^"]+)"', table)
    expected = list(timed_calls(seeded).order_by("-latency_ms").values_list("external_id", flat=True)[:20])
    assert ids == expected and ids[0] == "agent-llm"


def test_slowest_calls_follow_the_filters(owner_client: Client, seeded: Any) -> None:
    html = owner_client.get(f"/projects/{seeded.id}/latency/?range=24h&model=house-model").content.decode()
    table = re.search(r'data-testid="slowest-calls">(.*?)</table>', html, re.S).group(1)
    assert re.findall(r"<td>(gpt-4o-mini|claude-sonnet-4-5|house-model)</td>", table) == ["house-model"] * 13
    assert "1.6 s" in table.split("</tr>")[1]  # c-38, 1,606 ms, first


def test_empty_range_says_so(owner_client: Client, seeded: Any) -> None:
    html = owner_client.get(f"/projects/{seeded.id}/latency/?range=custom&from=2020-01-01T00:00"
                            "&to=2020-01-02T00:00").content.decode()
    assert 'data-testid="empty-range"' in html and not figures(html)


def test_filters_needing_minutes_of_the_every_dimension_cube_explain(owner_client: Client, seeded: Any) -> None:
    response = owner_client.get(f"/projects/{seeded.id}/latency/?range=1h&by=model&feature=chat")
    assert response.status_code == 200
    assert 'data-testid="latency-notice"' in response.content.decode()


@pytest.mark.parametrize("by", ["none", "model"])
def test_query_count_does_not_grow_with_data(owner_client: Client, seeded: Any, full_api: Any, by: str) -> None:
    from telemetry.services import project_process

    url = f"/projects/{seeded.id}/latency/?range=24h&by={by}"
    with CaptureQueriesContext(connection) as before:
        owner_client.get(url)
    full_api.ingest([{"type": "call", "id": f"more-{i}", "model": f"m-{i}", "latency_ms": 10 + 500 * i,
                      "time_to_first_token_ms": 5} for i in range(30)])
    project_process(project_id=seeded.id)
    with CaptureQueriesContext(connection) as after:
        response = owner_client.get(url)
    assert sum(figures(response.content.decode())["latency-histogram"]["data"][0]["y"]) == 71
    assert len(after.captured_queries) == len(before.captured_queries)
