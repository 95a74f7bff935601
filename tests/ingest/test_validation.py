"""Native ingest hardening: JSON depth, the accepted time window, costs, and refusals that say why."""
from __future__ import annotations

import gzip
import json
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

import pytest

from ingest import limits
from ingest.validation import too_deep
from telemetry.models import Call
from tests.conftest import Api, call_event

pytestmark = pytest.mark.django_db


def nested(levels: int, leaf: str = "1") -> str:
    return "[" * levels + leaf + "]" * levels


def body(*events: str) -> bytes:
    return ('{"events": [' + ", ".join(events) + "]}").encode()


def test_too_deep_counts_levels_and_ignores_brackets_in_strings() -> None:
    assert not too_deep(nested(limits.MAX_DEPTH).encode())
    assert too_deep(nested(limits.MAX_DEPTH + 1).encode())
    assert not too_deep(json.dumps({"text": "[" * 500, "list": [[1]] * 300}).encode())
    assert too_deep(('{"a":' * 70 + "1" + "}" * 70).encode())


@pytest.mark.parametrize("field", ["metadata", "params", "input"])
@pytest.mark.parametrize("levels", [100, 600, 1000, 5000])
def test_a_deep_field_refuses_its_event_and_the_rest_lands(api: Api, project: Any, field: str, levels: int) -> None:
    value = nested(levels) if field == "input" else '{"a": ' + nested(levels) + "}"
    deep = json.dumps(call_event(1))[:-1] + f', "{field}": {value}}}'
    response = api.ingest(raw=body(deep, json.dumps(call_event(2))))
    assert response.status_code == 207, response.content
    rejected = response.json()["rejected_items"]
    assert [(r["index"], r["id"]) for r in rejected] == [(0, "call-1")]
    assert "OBSERVATORY_INGEST_MAX_DEPTH" in rejected[0]["errors"][0]["message"]
    assert list(Call.objects.filter(project=project).values_list("external_id", flat=True)) == ["call-2"]


def test_nesting_at_the_limit_is_accepted(api: Api, project: Any) -> None:
    event = json.dumps(call_event(1))[:-1] + f', "metadata": {{"a": {nested(limits.MAX_DEPTH - 1)}}}}}'
    assert api.ingest(raw=body(event)).status_code == 202


def test_an_event_too_deep_to_decode_at_all_is_refused_alone(api: Api, project: Any) -> None:
    response = api.ingest(raw=body(nested(100_000), json.dumps(call_event(2))))
    assert response.status_code == 207, response.content
    assert "OBSERVATORY_INGEST_MAX_DEPTH" in response.json()["rejected_items"][0]["errors"][0]["message"]
    assert Call.objects.filter(project=project).count() == 1


def test_a_deep_body_that_is_no_envelope_is_400(api: Api) -> None:
    response = api.ingest(raw=nested(100_000).encode())
    assert response.status_code == 400 and response.json()["error"]["code"] == "invalid_body"


@pytest.mark.parametrize("timestamp", ["0001-01-01T00:00:00Z", "9999-12-31T23:59:59Z", 253402300799, 0,
                                       "0001-01-01T00:00:00+05:00"])
def test_a_time_outside_the_window_is_refused(api: Api, project: Any, timestamp: Any) -> None:
    response = api.ingest([call_event(1, timestamp=timestamp), call_event(2)])
    assert response.status_code == 207, response.content
    error = response.json()["rejected_items"][0]["errors"][0]
    assert error["field"] == "timestamp" and "OBSERVATORY_INGEST_MAX_AGE_DAYS" in error["message"]
    assert Call.objects.filter(project=project).count() == 1


def test_the_window_runs_from_max_age_to_max_future(api: Api, project: Any) -> None:
    now = datetime.now(timezone.utc)
    inside = [call_event(1, timestamp=(now - timedelta(days=limits.MAX_AGE_DAYS - 1)).isoformat()),
              call_event(2, timestamp=(now + timedelta(hours=limits.MAX_FUTURE_HOURS - 1)).isoformat())]
    outside = [call_event(3, timestamp=(now - timedelta(days=limits.MAX_AGE_DAYS + 1)).isoformat()),
               call_event(4, timestamp=(now + timedelta(hours=limits.MAX_FUTURE_HOURS + 1)).isoformat()),
               call_event(5, timestamp=now.isoformat(), end_time=(now + timedelta(days=3)).isoformat(),
                          latency_ms=None)]
    for event in outside[2:]:
        event.pop("latency_ms")
    response = api.ingest(inside + outside)
    assert [r["id"] for r in response.json()["rejected_items"]] == ["call-3", "call-4", "call-5"]


def test_feedback_and_scores_outside_the_window_are_refused(api: Api) -> None:
    response = api.ingest([{"type": "feedback", "call_id": "c", "thumbs": "up", "timestamp": "9999-01-01T00:00:00Z"},
                           {"type": "score", "call_id": "c", "name": "q", "value": 1, "timestamp": 1}])
    assert [e["errors"][0]["field"] for e in response.json()["rejected_items"]] == ["timestamp", "timestamp"]


def test_cost_is_rounded_to_the_columns_twelve_decimals_half_to_even(api: Api, project: Any) -> None:
    response = api.ingest([call_event(1, cost_usd=0.30000000000000004), call_event(2, cost_usd=1.0000000000005),
                           call_event(3, cost_usd=0.0000000000015)])
    assert response.status_code == 202, response.content
    costs = dict(Call.objects.filter(project=project).values_list("external_id", "cost_total_usd"))
    assert costs == {"call-1": Decimal("0.3"), "call-2": Decimal("1.000000000000"), "call-3": Decimal("0.000000000002")}


@pytest.mark.parametrize("cost", [-0.01, 1_000_001, "\"Infinity\"", "\"NaN\""])
def test_a_cost_out_of_range_is_refused_and_named(api: Api, cost: Any) -> None:
    event = json.dumps(call_event(1))[:-1] + f', "cost_usd": {cost}}}'
    response = api.ingest(raw=body(event))
    assert response.status_code == 422, response.content
    assert response.json()["rejected_items"][0]["errors"][0]["field"] == "cost_usd"


def test_time_to_first_token_beyond_the_latency_is_refused(api: Api, project: Any) -> None:
    response = api.ingest([call_event(1, latency_ms=500, time_to_first_token_ms=900),
                           call_event(2, latency_ms=500, time_to_first_token_ms=500)])
    assert response.status_code == 207, response.content
    rejected = response.json()["rejected_items"]
    assert [(r["id"], r["errors"][0]["field"]) for r in rejected] == [("call-1", "time_to_first_token_ms")]


def test_every_member_of_a_multi_member_gzip_body_is_read(api: Api, project: Any) -> None:
    whole = json.dumps({"events": [call_event(1), call_event(2)]}).encode()
    raw = gzip.compress(whole[:40]) + gzip.compress(whole[40:])
    response = api.ingest(raw=raw, HTTP_CONTENT_ENCODING="gzip")
    assert response.status_code == 202, response.content
    assert Call.objects.filter(project=project).count() == 2


def test_a_multi_member_gzip_body_is_bounded_as_a_whole(api: Api, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(limits, "MAX_BODY_BYTES", 2048)
    raw = b"".join(gzip.compress(b" " * 1000) for _ in range(3))
    response = api.ingest(raw=raw, HTTP_CONTENT_ENCODING="gzip")
    assert response.status_code == 413


def test_garbage_after_a_gzip_member_is_400(api: Api) -> None:
    raw = gzip.compress(json.dumps({"events": [call_event(1)]}).encode()) + b"trailing junk"
    response = api.ingest(raw=raw, HTTP_CONTENT_ENCODING="gzip")
    assert response.status_code == 400 and response.json()["error"]["code"] == "invalid_gzip"
