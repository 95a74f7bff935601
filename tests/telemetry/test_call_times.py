"""GET /api/v1/calls `from`, `to` and `cursor`: any parsable time is a 200 or a 400 with a message, never a 500."""
from __future__ import annotations

import base64

import pytest

from tests.conftest import Api, call_event

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("value", ["2026-01-01T00:00:00+16:00", "2026-01-01T00:00:00-23:59",
                                   "0001-01-01T00:00:00+01:00", "9999-12-31T23:59:59-01:00"])
def test_a_time_no_zone_or_utc_can_hold_is_400(reader: Api, value: str) -> None:
    for name in ("from", "to"):
        response = reader.get("/api/v1/calls", **{name: value})
        assert response.status_code == 400, response.content
        assert name in response.json()["error"]["details"]


@pytest.mark.parametrize("value", ["2026-11-20T10:00:00+14:00", "0001-01-01T00:00:00Z", "9999-12-31T23:59:59Z",
                                   "2026-11-20T10:00:00-12:00"])
def test_any_real_offset_and_the_calendar_edges_are_answered(api: Api, reader: Api, value: str) -> None:
    api.ingest([call_event(1)])
    assert reader.get("/api/v1/calls", **{"from": value}).status_code == 200
    assert reader.get("/api/v1/calls", to=value).status_code == 200


def test_an_offset_is_read_as_that_instant(api: Api, reader: Api) -> None:
    api.ingest([call_event(1, timestamp="2026-11-20T10:00:00Z")])
    ids = lambda **p: [c["id"] for c in reader.get("/api/v1/calls", **p).json()["data"]]  # noqa: E731
    assert ids(**{"from": "2026-11-20T23:59:00+14:00"}) == ["call-1"]
    assert ids(**{"from": "2026-11-21T00:01:00+14:00"}) == []


def test_a_forged_cursor_with_an_impossible_offset_is_400(reader: Api) -> None:
    cursor = base64.urlsafe_b64encode(b"2026-01-01T00:00:00+16:00|5").decode().rstrip("=")
    response = reader.get("/api/v1/calls", cursor=cursor)
    assert response.status_code == 400
