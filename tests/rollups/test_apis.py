"""The metrics API over HTTP: shapes, validation errors, scopes and isolation."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

import pytest

from telemetry.services import project_process
from tests.conftest import Api

pytestmark = pytest.mark.django_db
NOW = datetime.now(timezone.utc).replace(second=0, microsecond=0)
RANGE = {"from": (NOW - timedelta(days=2)).isoformat(), "to": (NOW + timedelta(minutes=1)).isoformat()}


@pytest.fixture
def folded(full_api: Api, project: Any, prices: None) -> None:
    events = [{"type": "call", "id": f"m{i}", "timestamp": (NOW - timedelta(hours=i % 40)).isoformat(),
               "latency_ms": 100 + 10 * i, "model": ["gpt-4o", "gpt-4o-mini"][i % 2], "provider": "openai",
               "usage": {"input_tokens": 100, "output_tokens": 10}, "user_id": f"u{i % 3}",
               "session_id": f"s{i % 5}", "status": "error" if i % 10 == 0 else "ok",
               "error": {"type": "Timeout"} if i % 10 == 0 else None} for i in range(60)]
    for event in events:
        if event["error"] is None:
            del event["error"]
    assert full_api.ingest(events).status_code == 202
    project_process(project_id=project.id)


def test_series_grouped_by_model(full_api: Api, folded: None) -> None:
    response = full_api.get("/api/v1/metrics", measure="count", interval="1h", group_by="model", **RANGE)
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["unit"] == "count" and body["group_by"] == ["model"]
    totals = {s["group"]["model"]: sum(p["value"] for p in s["points"]) for s in body["series"]}
    assert totals == {"gpt-4o": 30, "gpt-4o-mini": 30}


def test_percentile_and_summary(full_api: Api, folded: None) -> None:
    response = full_api.get("/api/v1/metrics", measure="latency_p99", **RANGE)
    assert response.status_code == 200
    (only,) = response.json()["series"]
    assert only["points"][0]["value"] == pytest.approx(680, rel=0.01)
    summary = full_api.get("/api/v1/metrics/summary", **RANGE).json()["figures"]
    assert summary["count"] == 60 and summary["errors"] == 6 and summary["error_rate"] == pytest.approx(0.1)
    assert summary["latency_p50"] == pytest.approx(390, rel=0.01)
    assert summary["cost"] > 0 and summary["unpriced"] == 0


def test_filters_apply(full_api: Api, folded: None) -> None:
    body = full_api.get("/api/v1/metrics/summary", filter=["model:gpt-4o", "status:error"], **RANGE).json()
    assert body["figures"]["count"] == 6  # i % 10 == 0 are all even, so all gpt-4o


def test_top_users_and_sessions(full_api: Api, folded: None) -> None:
    body = full_api.get("/api/v1/metrics/top", entity="user", order_by="calls", **RANGE).json()
    assert [(r["key"], r["calls"]) for r in body["rows"]] == [("u0", 20), ("u1", 20), ("u2", 20)]
    sessions = full_api.get("/api/v1/metrics/top", entity="session", order_by="errors", limit=1, **RANGE).json()
    assert sessions["rows"][0]["key"] == "s0" and sessions["rows"][0]["errors"] == 6


@pytest.mark.parametrize("params, field", [
    ({"measure": "latency_p100"}, "measure"), ({"measure": "bogus"}, "measure"),
    ({"measure": "count", "interval": "7x"}, "interval"), ({"measure": "count", "interval": "1m", "from": "2020-01-01"},
                                                          "interval"),
    ({"measure": "count", "filter": "colour:red"}, "filter"), ({"measure": "count", "group_by": "user_id"}, "group_by"),
    ({"measure": "count", "tz": "Mars/Olympus"}, "tz"), ({"measure": "count", "from": "2030-01-01"}, "from"),
    ({"measure": "count", "to": "9999-12-31T23:59:59Z"}, "to"),
])
def test_bad_parameters_are_400(full_api: Api, params: dict[str, str], field: str) -> None:
    response = full_api.get("/api/v1/metrics", **params)
    assert response.status_code == 400
    assert field in response.json()["error"]["details"]


def test_top_with_a_range_at_the_end_of_time_is_400(full_api: Api) -> None:
    response = full_api.get("/api/v1/metrics/top", entity="user", to="9999-12-31T23:59:59Z")
    assert response.status_code == 400 and "to" in response.json()["error"]["details"]


def test_scopes_and_isolation(api: Api, folded: None, other_project: Any) -> None:
    from tenancy.services import api_key_create

    assert api.get("/api/v1/metrics", measure="count").status_code == 403  # ingest-only key
    other = Api(api_key_create(project=other_project, scopes=["read"]).raw_key)
    assert other.get("/api/v1/metrics/summary", **RANGE).json()["figures"] == {}
