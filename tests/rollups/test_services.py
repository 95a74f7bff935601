"""Rebuilding a range from raw calls, and retention purges."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone
from decimal import Decimal
from io import StringIO
from typing import Any

import pytest
from django.core.management import call_command

from rollups.models import EntityRollup, Rollup
from rollups.retention import project_purge
from telemetry.models import Call, CallPayload, Feedback
from telemetry.services import project_process
from tests.conftest import Api

pytestmark = pytest.mark.django_db
NOW = datetime.now(timezone.utc)


def _totals(project: Any) -> tuple[int, Decimal]:
    rows = Rollup.objects.filter(project=project, grain="d", cube="total", kind="llm")
    return sum(r.calls for r in rows), sum((r.cost_usd for r in rows), Decimal(0))


def test_rebuild_recomputes_a_range_after_a_price_change(api: Api, project: Any, prices: None) -> None:
    api.ingest([{"type": "call", "id": f"r{i}", "timestamp": (NOW - timedelta(days=i % 3)).isoformat(),
                 "model": "acme-unpriced", "latency_ms": 50, "usage": {"input_tokens": 10**6, "output_tokens": 0}}
                for i in range(30)])
    project_process(project_id=project.id)
    assert _totals(project) == (30, Decimal(0))
    from pricing.models import ModelPrice

    ModelPrice.objects.create(project=project, model="acme-unpriced", input_per_mtok=2, output_per_mtok=2,
                              effective_date=datetime(2020, 1, 1).date())
    start, end = (NOW - timedelta(days=4)).isoformat(), (NOW + timedelta(days=1)).isoformat()
    call_command("recompute_costs", "--from", start, "--to", end, "--project", str(project.id), stdout=StringIO())
    out = StringIO()
    call_command("rebuild_rollups", "--from", start, "--to", end, "--project", str(project.id), stdout=out)
    assert "from 30 calls" in out.getvalue()
    assert _totals(project) == (30, Decimal(60))
    summary_unpriced = sum(r.unpriced for r in Rollup.objects.filter(project=project, grain="d", cube="total"))
    assert summary_unpriced == 0


def test_retention_purges_old_raw_data_and_buckets(api: Api, project: Any) -> None:
    project.retention_payload_days = 5
    project.retention_call_days = 20
    project.retention_hour_rollup_days = 10
    project.save()
    ages = {"fresh": 1, "no-payload": 7, "expired": 30}
    api.ingest([{"type": "call", "id": name, "timestamp": (NOW - timedelta(days=age)).isoformat(), "input": "hi",
                 "model": "m", "latency_ms": 5, "user_id": "u"} for name, age in ages.items()]
               + [{"type": "feedback", "call_id": "expired", "thumbs": "up"}])
    project_process(project_id=project.id)
    result = project_purge(project=project)
    assert result["calls"] == 1 and result["payloads"] == 2
    assert set(Call.objects.filter(project=project).values_list("external_id", flat=True)) == {"fresh", "no-payload"}
    assert set(CallPayload.objects.filter(call__project=project).values_list("call__external_id", flat=True)) == {
        "fresh"}
    assert not Feedback.objects.filter(project=project).exists()
    oldest_hour = Rollup.objects.filter(project=project, grain="h").order_by("bucket").first()
    assert oldest_hour.bucket > NOW - timedelta(days=10)
    assert Rollup.objects.filter(project=project, grain="d", bucket__lt=NOW - timedelta(days=25)).exists()
    assert EntityRollup.objects.filter(project=project).exists()
    assert project_purge(project=project)["calls"] == 0


def test_retention_expires_evaluated_and_flagged_calls_and_their_evaluation_rows(api: Api, project: Any) -> None:
    from quality.models import Evaluation, Flag, PendingEvaluation
    from quality.services import project_evaluate

    project.retention_call_days = 20
    project.save()
    api.ingest([{"type": "call", "id": f"old-{i}", "timestamp": (NOW - timedelta(days=30)).isoformat(),
                 "input": "What is my balance?", "output": "Write to jane.doe@example.com for that.",
                 "model": "m", "latency_ms": 5} for i in range(3)]
               + [{"type": "call", "id": "queued", "timestamp": (NOW - timedelta(days=30)).isoformat(),
                   "input": "hi", "output": "hello", "model": "m", "latency_ms": 5}])
    project_process(project_id=project.id)
    queued = Call.objects.get(project=project, external_id="queued").id
    PendingEvaluation.objects.filter(call_id=queued).delete()  # evaluate the other three first...
    assert project_evaluate(project_id=project.id) == 3
    PendingEvaluation.objects.create(call_id=queued, project_id=project.id)  # ...and leave this one queued
    assert Flag.objects.filter(project_id=project.id, name="pii.email").count() == 3

    assert project_purge(project=project)["calls"] == 4
    assert not Call.objects.filter(project=project).exists()
    assert not Evaluation.objects.filter(project_id=project.id).exists()
    assert not Flag.objects.filter(project_id=project.id).exists()
    assert not PendingEvaluation.objects.filter(project_id=project.id).exists()
