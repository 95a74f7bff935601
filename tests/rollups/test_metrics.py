"""Rollups against exact figures: numpy percentiles and Decimal sums over the same raw calls."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np
import pytest

from rollups.models import Rollup
from rollups.selectors import Query, decompose, series, summary
from rollups.sketch import MAPPING, MIN_VALUE
from telemetry import services as telemetry_services
from telemetry.models import Call, PendingCall
from telemetry.services import project_process
from tests.conftest import Api

pytestmark = pytest.mark.django_db
NOW = datetime.now(timezone.utc).replace(second=0, microsecond=0)
MODELS = ["gpt-4o", "gpt-4o-mini", "claude-sonnet-4-5", "gemini-2.5-flash"]


def _latency(rng: np.random.Generator, model_index: int) -> float:
    # Multi-modal and skewed: a fast mode, a slow mode and a long tail, different per model.
    mode = rng.random()
    if mode < 0.6:
        return float(rng.lognormal(5 + model_index * 0.3, 0.3))
    if mode < 0.95:
        return float(rng.lognormal(7 + model_index * 0.2, 0.4))
    return float(rng.pareto(1.5) * 5000 + 10000)


@pytest.fixture(scope="module")
def rollup_project(django_db_setup: Any, django_db_blocker: Any) -> Any:
    """4,000 calls ingested and folded once for the module (committed; read by every test)."""
    from pricing.services import prices_load
    from tenancy.services import api_key_create, organization_create, project_create

    rng = np.random.default_rng(42)
    events = []
    for i in range(4000):
        m = int(rng.integers(0, len(MODELS)))
        start = NOW - timedelta(seconds=float(rng.uniform(0, 3.2 * 86400)))
        latency = round(_latency(rng, m), 3)
        event = {
            "type": "call", "id": f"c{i}", "timestamp": start.isoformat(), "latency_ms": latency,
            # ingest refuses a first token after the call ended
            "time_to_first_token_ms": min(round(float(rng.lognormal(5, 0.5)), 3), latency), "model": MODELS[m],
            "provider": "openai" if m < 2 else ("anthropic" if m == 2 else "google"),
            "usage": {"input_tokens": int(rng.integers(10, 5000)), "output_tokens": int(rng.integers(1, 900)),
                      "cached_input_tokens": int(rng.integers(0, 10))},
            "status": "error" if rng.random() < 0.05 else "ok", "feature": ["chat", "search"][i % 2],
            "user_id": f"u{i % 37}", "session_id": f"s{i % 101}",
        }
        if i % 97 == 0:
            event["cost_usd"] = 0.25
        events.append(event)
    events.append({"type": "span", "id": "tool-1", "kind": "tool", "timestamp": NOW.isoformat(), "latency_ms": 1e6})
    with django_db_blocker.unblock():
        prices_load()
        org = organization_create(name=f"Rollup data {NOW.timestamp()}")
        project = project_create(organization=org, name="rollups")
        api = Api(api_key_create(project=project, scopes=["ingest"]).raw_key)
        for batch in range(0, len(events), 1000):
            assert api.ingest(events[batch:batch + 1000]).status_code == 202
        assert project_process(project_id=project.id) == len(events)
    yield project
    with django_db_blocker.unblock():
        org.delete()


def _raw(project: Any, start: datetime, end: datetime, **filters: Any) -> list[Call]:
    return list(Call.objects.filter(project=project, kind="llm", start_time__gte=start, start_time__lt=end,
                                    **filters))


def _close(sketch: float, exact: float) -> bool:
    return abs(sketch - exact) <= 0.01 * exact


def test_sql_sketch_keys_match_ddsketch(db: Any) -> None:
    from django.db import connection

    values = [0.0, 0.0005, 0.5, 1.0, 17.3, 999.9, 1234.5, 86_400_000.0]
    with connection.cursor() as cur:
        cur.execute("SELECT obs_sketch_key(v) FROM unnest(%s::float8[]) AS v", [values])
        assert [row[0] for row in cur.fetchall()] == [MAPPING.key(max(v, MIN_VALUE)) for v in values]
        cur.execute("SELECT obs_sketch_key(NULL)")
        assert cur.fetchone()[0] is None


@pytest.mark.parametrize("start_offset, end_offset", [
    (timedelta(hours=47, minutes=13), timedelta(hours=2, minutes=7)),   # minutes, hours and days
    (timedelta(days=3, hours=5), timedelta(hours=30)),                  # whole hours and a day
    (timedelta(hours=3), timedelta(0)),                                 # recent minutes only
])
def test_summary_percentiles_within_one_percent_and_sums_exact(rollup_project: Any,
                                                               start_offset: timedelta, end_offset: timedelta) -> None:
    start, end = NOW - start_offset, NOW - end_offset + timedelta(minutes=1)
    figures = summary(Query(project_id=rollup_project.id, start=start, end=end))
    raw = _raw(rollup_project, start, end)
    latencies = np.array([c.latency_ms for c in raw])
    ttfts = np.array([c.ttft_ms for c in raw])
    assert figures["count"] == len(raw)
    assert figures["errors"] == sum(c.status == "error" for c in raw)
    assert figures["tokens_input"] == sum(c.input_tokens for c in raw)
    assert figures["tokens_cached"] == sum(c.cached_input_tokens for c in raw)
    assert figures["cost"] == sum((c.cost_total_usd for c in raw if c.cost_total_usd is not None), Decimal(0))
    assert figures["latency_max"] == pytest.approx(latencies.max())
    for p in (50, 90, 95, 99):
        # method="lower" is the order statistic at rank p*(n-1), the one DDSketch's bins bound.
        assert _close(figures[f"latency_p{p}"], np.percentile(latencies, p, method="lower")), p
        assert _close(figures[f"ttft_p{p}"], np.percentile(ttfts, p, method="lower")), p


def test_grouped_series_per_model_match_exact_figures(rollup_project: Any) -> None:
    start, end = NOW - timedelta(days=4), NOW + timedelta(minutes=1)
    data = series(Query(project_id=rollup_project.id, start=start, end=end, group_by=("model",),
                        interval=timedelta(days=1)), "latency_p95")
    assert {s["group"]["model"] for s in data} == set(MODELS)
    for item in data:
        for point in item["points"]:
            raw = _raw(rollup_project, point["t"], point["t"] + timedelta(days=1), model=item["group"]["model"])
            exact = np.percentile([c.latency_ms for c in raw], 95, method="lower")
            assert _close(point["value"], exact)
    hourly = series(Query(project_id=rollup_project.id, start=start, end=end, interval=timedelta(hours=1)), "cost")
    total = sum(Decimal(str(p["value"])) for p in hourly[0]["points"])
    exact = sum((c.cost_total_usd for c in _raw(rollup_project, start, end) if c.cost_total_usd), Decimal(0))
    assert abs(total - exact) < Decimal("1e-9")


def test_only_model_calls_count_unless_kind_is_filtered(rollup_project: Any) -> None:
    start, end = NOW - timedelta(days=4), NOW + timedelta(minutes=1)
    assert summary(Query(project_id=rollup_project.id, start=start, end=end))["count"] == 4000
    tools = summary(Query(project_id=rollup_project.id, start=start, end=end, filters={"kind": ["tool"]}))
    assert tools["count"] == 1 and tools["latency_max"] == 1e6


def test_filters_and_time_zone_days(rollup_project: Any, db: Any) -> None:
    start, end = NOW - timedelta(days=4), NOW + timedelta(minutes=1)
    chat = summary(Query(project_id=rollup_project.id, start=start, end=end, filters={"feature": ["chat"],
                                                                                "model": ["gpt-4o"]}))
    assert chat["count"] == len(_raw(rollup_project, start, end, feature="chat", model="gpt-4o"))
    zone = ZoneInfo("America/New_York")
    local = series(Query(project_id=rollup_project.id, start=start, end=end, interval=timedelta(days=1),
                         tz="America/New_York"), "count")
    for point in local[0]["points"]:
        assert point["t"].astimezone(zone).hour == 0
        assert point["value"] == len(_raw(rollup_project, point["t"], point["t"] + timedelta(days=1)))
    kolkata = series(Query(project_id=rollup_project.id, start=start, end=end, interval=timedelta(days=1),
                           tz="Asia/Kolkata"), "count")
    assert sum(p["value"] for p in kolkata[0]["points"]) == 4000


def test_reprocessing_never_double_counts(rollup_project: Any) -> None:
    before = list(Rollup.objects.filter(project=rollup_project).order_by("id").values_list("calls", flat=True))
    assert project_process(project_id=rollup_project.id) == 0
    after = list(Rollup.objects.filter(project=rollup_project).order_by("id").values_list("calls", flat=True))
    assert before == after


def test_calls_without_timings_stay_out_of_the_distributions(api: Api, project: Any) -> None:
    api.ingest([{"type": "call", "id": "timed", "model": "m", "latency_ms": 250, "time_to_first_token_ms": 40},
                {"type": "call", "id": "untimed", "model": "m"}])
    project_process(project_id=project.id)
    figures = summary(Query(project_id=project.id, start=NOW - timedelta(days=1), end=NOW + timedelta(days=1)))
    assert figures["count"] == 2
    assert figures["latency_p50"] == pytest.approx(250, rel=0.01)
    assert figures["ttft_p50"] == pytest.approx(40, rel=0.01)
    assert Rollup.objects.get(project=project, grain="d", cube="total", score="").latency_count == 1


def test_a_failing_fold_leaves_no_partial_rollup(api: Api, project: Any, prices: None) -> None:
    def explode(cursor: Any, project_id: int, ids: list[int]) -> None:
        raise RuntimeError("worker died mid-batch")

    api.ingest([{"type": "call", "id": "x", "model": "gpt-4o", "latency_ms": 5}])
    telemetry_services.register_processor(explode)
    try:
        with pytest.raises(RuntimeError):
            project_process(project_id=project.id)
    finally:
        telemetry_services._PROCESSORS.remove(explode)
    assert not Rollup.objects.filter(project=project).exists()
    assert PendingCall.objects.filter(call_id=Call.objects.get(project=project).id).exists()
    assert project_process(project_id=project.id) == 1
    assert Rollup.objects.filter(project=project, cube="total", grain="d", score="").get().calls == 1


def test_decompose_covers_the_range_once() -> None:
    start = datetime(2026, 11, 1, 5, 17, tzinfo=timezone.utc)
    end = datetime(2026, 11, 4, 2, 41, tzinfo=timezone.utc)
    pieces = decompose(start, end, minute_horizon=datetime(2026, 1, 1, tzinfo=timezone.utc))
    assert pieces == [("m", start, start.replace(hour=6, minute=0)),
                      ("h", start.replace(hour=6, minute=0), datetime(2026, 11, 2, tzinfo=timezone.utc)),
                      ("d", datetime(2026, 11, 2, tzinfo=timezone.utc), datetime(2026, 11, 4, tzinfo=timezone.utc)),
                      ("h", datetime(2026, 11, 4, tzinfo=timezone.utc), end.replace(minute=0)),
                      ("m", end.replace(minute=0), end)]
