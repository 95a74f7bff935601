"""End to end with real processes: slow calls ingested through the API, folded by a real Celery
worker, evaluated by the evaluation task on two real workers at once (one transition, one
notification), a signed webhook received by a local receiver; then normal calls, a resolve."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
import standardwebhooks

from alerts import services
from alerts.models import Incident, Notification, StateEvent
from alerts.tasks import evaluate
from telemetry.models import PendingCall
from tests.alerts.conftest import Received, calls
from tests.conftest import Api
from tests.processes import celery_worker, child_env, wait_for

pytestmark = pytest.mark.django_db(transaction=True)
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"


def test_slow_calls_page_through_a_signed_webhook_then_resolve(api: Api, project: Any, prices: None,
                                                               allow_private: None,
                                                               receiver: tuple[str, Received]) -> None:
    url, received = receiver
    ARTIFACTS.mkdir(exist_ok=True)
    channel, shown = services.channel_create(project=project, actor=None, kind="webhook", name="on-call hook",
                                             secrets={"url": url + "/hook"})
    rule = services.rule_create(project=project, actor=None, name="p95 over 1 s", measure="latency_p95",
                                condition="threshold", condition_config={"op": "above", "critical": 1000},
                                window_seconds=600, min_count=5, group_by=["model"],
                                routes=[{"channel": channel.id, "severities": ["critical"]}])
    now = datetime.now(timezone.utc)
    env = child_env(OBSERVATORY_ALERTS_ALLOW_PRIVATE_URLS="true")
    with celery_worker(env, name="a", log_path=ARTIFACTS / "worker-alerts-a.log"), \
            celery_worker(env, name="b", log_path=ARTIFACTS / "worker-alerts-b.log"):
        assert api.ingest(calls(20, latency=2500, start=now - timedelta(minutes=4), prefix="slow")).status_code == 202
        wait_for(lambda: not PendingCall.objects.filter(project_id=project.id).exists(), timeout=30,
                 what="the worker to fold the calls")
        # Two ticks at once on two workers: one transition, one notification, one delivery.
        evaluate.delay()
        evaluate.delay()
        wait_for(lambda: received.requests, timeout=30, what="the webhook")
        request = received.requests[0]
        payload = standardwebhooks.Webhook(shown["secret"]).verify(request["body"], request["headers"])
        assert payload["type"] == "alert.triggered" and payload["data"]["group"] == {"model": "gpt-4o"}
        assert payload["data"]["value"] > 1000 and payload["data"]["rule"]["name"] == "p95 over 1 s"
        assert StateEvent.objects.filter(rule=rule).count() == 1
        assert Notification.objects.count() == 1

        # Normal calls afterwards: the next minute's evaluation resolves the incident.
        assert api.ingest(calls(400, latency=150, start=now - timedelta(minutes=3), prefix="fast")).status_code == 202
        wait_for(lambda: not PendingCall.objects.filter(project_id=project.id).exists(), timeout=30,
                 what="the worker to fold the normal calls")
        rule.refresh_from_db()
        evaluate.delay((rule.last_evaluated_at + timedelta(minutes=1)).isoformat())
        wait_for(lambda: len(received.requests) >= 2, timeout=30, what="the resolve webhook")
    resolve = standardwebhooks.Webhook(shown["secret"]).verify(received.requests[1]["body"],
                                                               received.requests[1]["headers"])
    assert resolve["type"] == "alert.resolved"
    assert len(received.requests) == 2
    assert received.requests[0]["headers"]["webhook-id"] != received.requests[1]["headers"]["webhook-id"]
    incident = Incident.objects.get(rule=rule)
    assert incident.resolved_at is not None
    assert list(StateEvent.objects.filter(rule=rule).order_by("at").values_list("to_state", flat=True)) == \
        ["firing", "resolved"]
