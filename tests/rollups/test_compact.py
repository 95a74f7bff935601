"""Rollup parts and their compaction: merging changes no figure, and leaves one row per key."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

import pytest
from django.db import connection
from django.db.models import Count

from rollups import compact
from rollups.models import Rollup
from rollups.selectors import Query, series, summary
from telemetry import services as telemetry_services
from telemetry.services import project_process
from tests.conftest import Api, call_event

pytestmark = pytest.mark.django_db(transaction=True)
NOW = datetime.now(timezone.utc).replace(second=30, microsecond=0)


@pytest.fixture
def small_batches(settings: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """Many small batches and no compaction after a run: every bucket gets several parts."""
    settings.PROCESS_BATCH_SIZE = 40
    monkeypatch.setattr(telemetry_services, "_AFTER_RUN", [])


def _ingest(api: Api, first: int, count: int) -> None:
    events = []
    for i in range(first, first + count):
        event = call_event(i, timestamp=(NOW - timedelta(minutes=i % 7, hours=i % 3)).isoformat())
        event.update(latency_ms=40 + (i * 37) % 900, time_to_first_token_ms=5 + i % 35,  # within the latency
                     model=["gpt-4o-mini", "claude-sonnet-4-5"][i % 2], feature=["chat", "search", "mail"][i % 3])
        events.append(event)
    assert api.ingest(events).status_code == 202


def _figures(project_id: int) -> tuple[dict[str, Any], list[dict[str, Any]], list[dict[str, Any]]]:
    query = Query(project_id=project_id, start=NOW - timedelta(days=2), end=NOW + timedelta(hours=1))
    by_minute = Query(project_id=project_id, start=NOW - timedelta(hours=4), end=NOW + timedelta(minutes=1),
                      group_by=("model",), interval=timedelta(minutes=1))
    by_hour = Query(project_id=project_id, start=NOW - timedelta(days=1), end=NOW + timedelta(hours=1),
                    group_by=("model",), interval=timedelta(hours=1), filters={"feature": ["chat", "mail"]})
    return summary(query), series(by_minute, "latency_p95"), series(by_hour, "cost")


def _duplicate_keys(project_id: int) -> int:
    keys = ["grain", "cube", "bucket", "kind", "provider", "model", "prompt_name", "prompt_version", "feature",
            "team", "environment", "status", "score"]  # score rows (dist:*, mix:*) share the call cubes
    return Rollup.objects.filter(project_id=project_id).values(*keys).annotate(n=Count("id")).filter(n__gt=1).count()


def test_compaction_merges_parts_without_changing_any_figure(api: Api, project: Any, small_batches: None) -> None:
    _ingest(api, 0, 400)
    assert project_process(project_id=project.id, max_batches=1000) == 400
    assert _duplicate_keys(project.id) > 0  # ten batches over the same buckets: parts to merge
    before = _figures(project.id)
    assert before[0]["count"] == 400

    assert compact.project_compact(project_id=project.id) > 0
    assert _figures(project.id) == before  # sums, maxima and merged histograms: identical
    assert _duplicate_keys(project.id) == 0
    assert not Rollup.objects.filter(project=project, compacted=False).exists()
    assert compact.projects_with_parts() == []


def test_parts_folded_after_a_compaction_are_merged_by_the_next(api: Api, project: Any, small_batches: None) -> None:
    _ingest(api, 0, 120)
    project_process(project_id=project.id, max_batches=1000)
    compact.project_compact(project_id=project.id)
    _ingest(api, 120, 200)
    project_process(project_id=project.id, max_batches=1000)
    assert compact.projects_with_parts() == [project.id]
    compact.project_compact(project_id=project.id)
    figures = _figures(project.id)[0]
    assert figures["count"] == 320 and _duplicate_keys(project.id) == 0


def test_a_second_compactor_skips_a_project_being_compacted(api: Api, project: Any, small_batches: None) -> None:
    _ingest(api, 0, 100)
    project_process(project_id=project.id, max_batches=1000)
    from django.db import connections

    other = connections.create_connection("default")
    try:
        with other.cursor() as cur:
            cur.execute("BEGIN")
            cur.execute("SELECT pg_advisory_xact_lock(%s, %s)", [compact.COMPACT_NAMESPACE, project.id])
            assert compact.project_compact(project_id=project.id) == 0
            cur.execute("ROLLBACK")
    finally:
        other.close()
    assert compact.project_compact(project_id=project.id) > 0
    assert connection.is_usable()
