"""Custom ranges at the edges of the calendar: a message and the default range, never a 500."""
from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

import pytest
from django.http import QueryDict
from django.test import Client

from dashboards.context import BadRange, parse_range

pytestmark = pytest.mark.django_db
PAGES = ["", "cost/", "latency/", "quality/", "calls/", "people/"]
EDGES = [("0001-01-01T00:00", "0001-01-02T00:00"), ("9999-12-30T00:00", "9999-12-31T23:59"),
         ("0001-01-01T00:00+14:00", "0001-01-02T00:00")]


@pytest.mark.parametrize("page", PAGES)
@pytest.mark.parametrize(("start", "end"), EDGES)
def test_a_custom_range_at_year_1_or_9999_is_refused_with_a_message(owner_client: Client, project: Any, page: str,
                                                                    start: str, end: str) -> None:
    response = owner_client.get(f"/projects/{project.id}/{page}",
                                {"range": "custom", "from": start, "to": end, "tz": "Pacific/Kiritimati"})
    assert response.status_code == 200
    assert "must be between 1970 and 2200" in response.content.decode()


@pytest.mark.parametrize(("start", "end"), EDGES)
def test_parse_range_refuses_the_calendar_edges(start: str, end: str) -> None:
    params = QueryDict(mutable=True)
    params.update({"range": "custom", "from": start, "to": end})
    with pytest.raises(BadRange):
        parse_range(params, "UTC")


def test_a_custom_range_within_the_years_is_kept() -> None:
    params = QueryDict(mutable=True)
    params.update({"range": "custom", "from": "2026-11-20T09:00", "to": "2026-11-21T09:00"})
    _, start, end, _ = parse_range(params, "UTC", now=datetime(2026, 12, 1, tzinfo=timezone.utc))
    assert (start, end) == (datetime(2026, 11, 20, 9, tzinfo=timezone.utc),
                            datetime(2026, 11, 21, 9, tzinfo=timezone.utc))
