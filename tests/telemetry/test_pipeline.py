"""The ingest -> broker -> worker pipeline with real Celery worker processes and a real broker."""
from __future__ import annotations

import time
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

from telemetry.models import Call, Feedback, PendingCall, Score, Trace
from telemetry.services import sweep
from telemetry.tasks import process_project
from tests.conftest import Api, call_event
from tests.processes import celery_worker, child_env, gunicorn, http, wait_for

pytestmark = pytest.mark.django_db(transaction=True)
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"


@pytest.fixture
def worker_log(request: pytest.FixtureRequest) -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    return ARTIFACTS / f"worker-{request.node.name}.log"


def _unprocessed(project: Any) -> int:
    return PendingCall.objects.filter(project_id=project.id).count()


def test_a_real_worker_processes_calls_and_links_early_feedback(api: Api, project: Any, worker_log: Path) -> None:
    with celery_worker(log_path=worker_log):
        early = api.ingest([{"type": "feedback", "id": "fb", "call_id": "late-call", "thumbs": "down"},
                            {"type": "score", "id": "sc", "call_id": "late-call", "name": "q", "value": 0.1}])
        assert early.status_code == 202
        assert Feedback.objects.get(external_id="fb").call_id is None
        response = api.ingest([call_event(1, id="late-call", trace_id="tr"), call_event(2, trace_id="tr")])
        assert response.status_code == 202
        wait_for(lambda: _unprocessed(project) == 0 and Feedback.objects.get(external_id="fb").call_id,
                 timeout=30, what="the worker to process and link")
    call = Call.objects.get(project=project, external_id="late-call")
    assert Feedback.objects.get(external_id="fb").call_id == call.id
    assert Score.objects.get(external_id="sc").call_id == call.id
    assert Trace.objects.get(project=project, trace_id="tr").call_count == 2


def test_ingest_succeeds_with_the_broker_down_and_the_sweeper_recovers(ingest_key: str, project: Any,
                                                                         worker_log: Path) -> None:
    dead_broker = child_env(CELERY_BROKER_URL="redis://127.0.0.1:1/0", REDIS_URL=None)
    with gunicorn(dead_broker) as base:
        started = time.monotonic()
        status, _, body = http("POST", f"{base}/api/v1/ingest", body={"events": [call_event(i) for i in range(20)]},
                               headers={"Authorization": f"Bearer {ingest_key}", "Content-Type": "application/json"})
        elapsed = time.monotonic() - started
        assert status == 202, body
        assert body["accepted"] == 20
        status, _, health = http("GET", f"{base}/healthz")
        assert status == 503 and health["checks"]["broker"].startswith("error")
    assert elapsed < 10, "a dead broker must not stall ingest"
    assert _unprocessed(project) == 20  # committed, acknowledged, waiting for a worker
    with celery_worker(log_path=worker_log):
        time.sleep(0.1)
        assert project.id in sweep(min_age=timedelta(0))
        wait_for(lambda: _unprocessed(project) == 0, timeout=30, what="the sweeper's task to be processed")


def test_two_workers_over_one_backlog_never_double_count(api: Api, project: Any, worker_log: Path,
                                                         prices: None) -> None:
    traces = 40
    for batch in range(6):
        now = datetime.now(timezone.utc)  # recent, so minute buckets are folded too
        events = [call_event(batch * 500 + i, trace_id=f"t-{(batch * 500 + i) % traces}",
                             timestamp=(now - timedelta(minutes=i % 90)).isoformat()) for i in range(500)]
        assert api.ingest(events).status_code == 202
    assert _unprocessed(project) == 3000
    with celery_worker(name="a", concurrency=2, log_path=worker_log), \
            celery_worker(name="b", concurrency=2, log_path=worker_log.with_suffix(".b.log")):
        for _ in range(6):
            process_project.delay(project.id)
        wait_for(lambda: _unprocessed(project) == 0, timeout=60, what="both workers to drain the backlog")
    counts = dict(Trace.objects.filter(project=project).values_list("trace_id", "call_count"))
    assert counts == {f"t-{n}": 3000 // traces for n in range(traces)}
    # Rollups folded by both workers add up to the exact raw figures: nothing counted twice or lost.
    from decimal import Decimal

    from django.db.models import Sum

    from rollups.models import Rollup

    raw = Call.objects.filter(project=project).aggregate(cost=Sum("cost_total_usd"), tokens=Sum("input_tokens"))
    for grain in ("m", "h", "d"):
        folded = Rollup.objects.filter(project=project, grain=grain, cube="total").aggregate(
            calls=Sum("calls"), cost=Sum("cost_usd"), tokens=Sum("input_tokens"), latencies=Sum("latency_count"))
        assert folded["calls"] == 3000 and folded["latencies"] == 3000, grain
        assert folded["tokens"] == raw["tokens"] and folded["cost"] == (raw["cost"] or Decimal(0)), grain
