"""Automatic rollback end to end with real processes: calls ingested through the API, folded and
evaluated (the PII evaluator flags leaked e-mail addresses) by a real Celery worker; one run of the
guard task on that worker rolls production back, and the rollback reaches a subscribed signed
webhook through the alerts outbox."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
import standardwebhooks

from alerts import services as alert_services
from prompts.events import subscriptions_set
from prompts.guards import guard_create
from prompts.models import Guard, Label
from prompts.services import label_move
from prompts.tasks import evaluate_guards
from quality.models import PendingEvaluation
from telemetry.models import PendingCall
from tests.alerts.conftest import Received, allow_private, receiver  # noqa: F401 (fixtures)
from tests.conftest import Api, call_event
from tests.processes import celery_worker, child_env, wait_for
from tests.prompts.conftest import OWNER

pytestmark = pytest.mark.django_db(transaction=True)
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"


def _send(api: Api, start: int, count: int, *, leak_every: int) -> None:
    now = datetime.now(timezone.utc)
    events = [call_event(i, trace_id=f"t{i}", timestamp=(now - timedelta(seconds=30 + i % 50)).isoformat(),
                         output="Write to jane.doe@example.com." if i % leak_every == 0 else "Here you are.",
                         prompt={"name": "greeting", "version": "2"}) for i in range(start, start + count)]
    assert api.ingest(events).status_code == 202


def _settled(project: Any) -> bool:
    return not PendingCall.objects.filter(project_id=project.id).exists() and \
        not PendingEvaluation.objects.filter(project_id=project.id).exists()


def test_a_flag_rate_over_the_limit_rolls_production_back_in_one_guard_run(
        project: Any, greeting: Any, full_api: Api, prices: None, receiver: tuple[str, Received],  # noqa: F811
        allow_private: None) -> None:  # noqa: F811
    url, received = receiver
    ARTIFACTS.mkdir(exist_ok=True)
    hook, shown = alert_services.channel_create(project=project, actor=None, kind="webhook", name="hook",
                                                secrets={"url": url + "/hook"})
    subscriptions_set(project_id=project.id, channel_ids=[hook.pk], kinds=["rollback"], actor_label="test")
    label_move(prompt=greeting, label="production", version=greeting.versions.get(version=2), actor=OWNER)
    Label.objects.filter(prompt=greeting).update(updated_at=datetime.now(timezone.utc) - timedelta(minutes=30))
    guard = guard_create(prompt=greeting, label="production", metric="flag_rate", flag="pii.email", threshold=0.05,
                         min_sample=50, actor=OWNER)
    env = child_env(OBSERVATORY_ALERTS_ALLOW_PRIVATE_URLS="true")
    with celery_worker(env, name="guards", log_path=ARTIFACTS / "worker-prompt-guards.log"):
        _send(full_api, 0, 60, leak_every=20)  # 5%: the bound stays under the limit
        wait_for(lambda: _settled(project), timeout=60, what="the worker to fold and evaluate the calls")
        evaluate_guards.delay()
        wait_for(lambda: Guard.objects.get(pk=guard.pk).last_checked_at, timeout=30, what="a guard run")
        assert Label.objects.get(prompt=greeting, name="production").version.version == 2
        assert Guard.objects.get(pk=guard.pk).last_value["n"] == 60

        _send(full_api, 60, 60, leak_every=2)  # now 33 of 120 leak an address
        wait_for(lambda: _settled(project), timeout=60, what="the worker to fold and evaluate the leaks")
        evaluate_guards.delay()  # one evaluation cycle
        wait_for(lambda: Label.objects.get(prompt=greeting, name="production").version.version == 1, timeout=30,
                 what="the rollback")
        wait_for(lambda: received.requests, timeout=30, what="the rollback's webhook")
    guard.refresh_from_db()
    assert guard.state == "tripped" and guard.last_value["n"] == 120 and guard.last_value["bound"] > 0.05
    payload = standardwebhooks.Webhook(shown["secret"]).verify(received.requests[0]["body"],
                                                               received.requests[0]["headers"])
    assert payload["type"] == "prompt.rollback" and payload["data"]["data"]["actor"] == "system:guard"
    assert payload["data"]["data"]["details"]["n"] == 120 and len(received.requests) == 1
