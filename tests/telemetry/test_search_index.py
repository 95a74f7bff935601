"""The background full-text indexer of payloads (telemetry.services.payloads_index)."""
from __future__ import annotations

from typing import Any

import psycopg
from django.conf import settings
from django.db import connection

from dashboards.selectors.calls import ExplorerFilters, calls_page
from telemetry.models import CallPayload
from telemetry.services import SEARCH_LOCK, payloads_index
from tests.conftest import Api, call_event


def found(project: Any, q: str) -> set[str]:
    from datetime import datetime, timezone

    page = calls_page(project_id=project.id, start=datetime(2026, 1, 1, tzinfo=timezone.utc),
                      end=datetime(2027, 1, 1, tzinfo=timezone.utc), filters=ExplorerFilters(q=q))
    return {row["external_id"] for row in page.rows}


def test_ingest_leaves_the_vector_to_the_indexer_and_search_finds_both_states(full_api: Api, project: Any) -> None:
    full_api.ingest([call_event(1, output="the quick brown fox"), call_event(2, output="a lazy dog"),
                     call_event(3, input=[{"role": "user", "content": "where is the fox?"}], output=None)])
    assert CallPayload.objects.filter(search__isnull=True).count() == 3  # nothing computed at ingest
    assert found(project, "fox") == {"call-1", "call-3"}  # unindexed rows are checked directly
    assert payloads_index() == 3
    assert CallPayload.objects.filter(search__isnull=True).count() == 0
    assert found(project, "fox") == {"call-1", "call-3"}
    assert found(project, "dog -lazy") == set()
    assert payloads_index() == 0


def test_a_second_indexer_steps_aside(full_api: Api, project: Any) -> None:
    full_api.ingest([call_event(1)])
    params = connection.get_connection_params()
    dsn = {k: v for k, v in params.items() if k in ("dbname", "user", "password", "host", "port")}
    with psycopg.connect(**dsn, autocommit=True) as other:
        other.execute("SELECT pg_advisory_lock(%s)", [SEARCH_LOCK])
        assert payloads_index() == 0
        other.execute("SELECT pg_advisory_unlock(%s)", [SEARCH_LOCK])
    assert payloads_index() == 1


def test_beat_runs_the_indexer() -> None:
    entry = settings.CELERY_BEAT_SCHEDULE["index-payloads"]
    assert entry["task"] == "telemetry.tasks.index_payloads"
    assert entry["schedule"] == float(settings.OBSERVATORY_SEARCH_INDEX_SECONDS)
