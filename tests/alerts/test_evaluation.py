"""Evaluation on real rollups: calls ingested and folded, the rule evaluated for a minute, the
instance's state, events, incidents and outbox rows checked; the claim under concurrency."""
from __future__ import annotations

import threading
from datetime import timedelta
from typing import Any

import pytest
from django.db import connection

from alerts import services
from alerts.evaluation import rule_evaluate, rules_claim, rules_evaluate_due
from alerts.models import Incident, Notification, Rule, RuleInstance, StateEvent
from tests.alerts.conftest import at_minute, calls, ingest, make_rule
from tests.conftest import Api

pytestmark = pytest.mark.django_db


def _channel(project: Any) -> Any:
    channel, _ = services.channel_create(project=project, actor=None, kind="email", name="ops",
                                         config={"to": ["ops@example.com"]})
    return channel


def test_a_slow_minute_fires_then_recovers_with_one_incident(api: Api, project: Any, prices: None) -> None:
    start = at_minute(-3)
    ingest(api, project, calls(20, latency=2500, start=start))
    channel = _channel(project)
    rule = make_rule(project, routes=[{"channel": channel.id, "severities": ["critical"]}])
    at = at_minute(1)
    events = rule_evaluate(rule=rule, at=at)
    assert [(e.from_state, e.to_state) for e in events] == [("ok", "firing")]
    instance = RuleInstance.objects.get(rule=rule)
    assert instance.state == "firing" and instance.last_value == pytest.approx(2500, rel=0.02)
    incident = Incident.objects.get(rule=rule)
    assert incident.resolved_at is None and incident.severity == "critical" and incident.threshold == 1000
    assert list(Notification.objects.values_list("kind", "channel_id")) == [("trigger", channel.id)]
    # The same minute again (a second tick): nothing new.
    assert rule_evaluate(rule=rule, at=at) == []
    # Later the window holds fast calls only: resolved, one resolve notification.
    later = at + timedelta(minutes=10)
    ingest(api, project, calls(20, latency=200, start=later - timedelta(minutes=3), prefix="fast"))
    events = rule_evaluate(rule=rule, at=later)
    assert [(e.from_state, e.to_state) for e in events] == [("firing", "resolved")]
    incident.refresh_from_db()
    assert incident.resolved_at == later
    assert sorted(Notification.objects.values_list("kind", flat=True)) == ["resolve", "trigger"]


def test_below_min_count_is_no_data_and_never_fires(api: Api, project: Any, prices: None) -> None:
    ingest(api, project, calls(2, latency=9000, start=at_minute(-2)))
    rule = make_rule(project, min_count=5)
    assert rule_evaluate(rule=rule, at=at_minute(1)) == []
    assert not RuleInstance.objects.filter(rule=rule).exists()
    assert not Incident.objects.exists()


def test_grouped_rule_gives_each_model_its_own_state(api: Api, project: Any, prices: None) -> None:
    start = at_minute(-3)
    ingest(api, project, calls(10, latency=3000, start=start, model="slow-model", prefix="s")
           + calls(10, latency=100, start=start, model="fast-model", prefix="f"))
    rule = make_rule(project, group_by=["model"], window_seconds=900)
    at = at_minute(1)
    rule_evaluate(rule=rule, at=at)
    states = {i.group["model"]: i.state for i in RuleInstance.objects.filter(rule=rule)}
    assert states == {"slow-model": "firing"}
    # A second model breaching later opens its own incident (Helicone's shared status would not).
    ingest(api, project, calls(10, latency=4000, start=at + timedelta(minutes=1), model="fast-model", prefix="f2"))
    rule_evaluate(rule=rule, at=at + timedelta(minutes=3))
    assert Incident.objects.filter(rule=rule).count() == 2
    assert {i.group["model"] for i in Incident.objects.filter(rule=rule, resolved_at__isnull=True)} == \
        {"slow-model", "fast-model"}


def test_pending_period_waits_before_firing(api: Api, project: Any, prices: None) -> None:
    start = at_minute(-3)
    ingest(api, project, calls(10, latency=3000, start=start))
    rule = make_rule(project, pending_seconds=120, window_seconds=600)
    at = at_minute(1)
    assert [e.to_state for e in rule_evaluate(rule=rule, at=at)] == ["pending"]
    assert rule_evaluate(rule=rule, at=at + timedelta(minutes=1)) == []
    assert [e.to_state for e in rule_evaluate(rule=rule, at=at + timedelta(minutes=2))] == ["firing"]


def test_silence_mutes_notifications_but_records_the_change(api: Api, project: Any, prices: None) -> None:
    ingest(api, project, calls(10, latency=3000, start=at_minute(-3)))
    channel = _channel(project)
    rule = make_rule(project, routes=[{"channel": channel.id}])
    services.silence_create(project=project, actor=None, rule=rule, ends_at=at_minute(60), starts_at=at_minute(-5),
                            reason="deploy")
    events = rule_evaluate(rule=rule, at=at_minute(1))
    assert [(e.to_state, e.muted) for e in events] == [("firing", True)]
    assert not Notification.objects.exists()


def test_an_unreadable_metric_records_error_not_a_page(project: Any) -> None:
    rule = make_rule(project)
    Rule.objects.filter(pk=rule.pk).update(measure="latency_nonsense")
    rule.refresh_from_db()
    rule_evaluate(rule=rule, at=at_minute(1))
    rule.refresh_from_db()
    assert "unknown measure" in rule.last_error
    assert not Incident.objects.exists()


def test_the_beat_task_claims_each_due_rule_once_per_minute(api: Api, project: Any, prices: None) -> None:
    ingest(api, project, calls(10, latency=3000, start=at_minute(-3)))
    rule = make_rule(project)
    now = at_minute(1)
    assert rules_evaluate_due(now=now) == 1
    assert rules_evaluate_due(now=now + timedelta(seconds=30)) == 0  # same minute: not due again
    assert rules_claim(at=now + timedelta(minutes=1)) == [rule.id]


@pytest.mark.django_db(transaction=True)
def test_two_concurrent_evaluations_make_one_transition(api: Api, project: Any, prices: None) -> None:
    """Two threads, each with its own database connection, evaluate the same minute at once."""
    ingest(api, project, calls(10, latency=3000, start=at_minute(-3)))
    channel = _channel(project)
    make_rule(project, routes=[{"channel": channel.id}])
    now = at_minute(1)
    barrier = threading.Barrier(2)
    results: list[Any] = []

    def tick() -> None:
        try:
            barrier.wait()
            results.append(rules_evaluate_due(now=now))
        finally:
            connection.close()

    threads = [threading.Thread(target=tick) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(results) == [0, 1]
    assert StateEvent.objects.count() == 1
    assert Notification.objects.count() == 1


@pytest.mark.django_db(transaction=True)
def test_overlapping_evaluations_of_one_rule_write_once(api: Api, project: Any, prices: None) -> None:
    """Even past the claim (a forced re-run), the advisory lock and the minute check keep one transition."""
    ingest(api, project, calls(10, latency=3000, start=at_minute(-3)))
    rule = make_rule(project)
    at = at_minute(1)
    barrier = threading.Barrier(2)

    def run() -> None:
        try:
            barrier.wait()
            rule_evaluate(rule=Rule.objects.get(pk=rule.pk), at=at)
        finally:
            connection.close()

    threads = [threading.Thread(target=run) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert StateEvent.objects.count() == 1 and Incident.objects.count() == 1


def test_the_minute_in_progress_counts(api: Api, project: Any, prices: None) -> None:
    """A burst folded a second before the tick is seen by that tick: the window ends with the
    minute being evaluated, not at its start (up to a minute sooner to page)."""
    at = at_minute(0)
    ingest(api, project, calls(10, latency=3000, start=at, spread_seconds=1))
    rule = make_rule(project, window_seconds=60)
    assert [e.to_state for e in rule_evaluate(rule=rule, at=at)] == ["firing"]
