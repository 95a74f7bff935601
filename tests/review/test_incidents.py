"""The calls behind an alert incident: an incident rule on a queue and the alerts action
"sample_into_queue", through the real alerts evaluation (calls ingested, folded into rollups, the
rule claimed and evaluated by the beat's entry point)."""
from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from alerts.evaluation import rule_evaluate, rules_evaluate_due
from alerts.models import Incident
from review.errors import Invalid
from review.models import Item
from review.selectors import item_reasons
from review.services import backfill_start, queue_create, rule_create
from tests.alerts.conftest import at_minute, calls, ingest, make_rule
from tests.conftest import Api
from tests.review.conftest import RUBRIC

pytestmark = pytest.mark.django_db


def _slow_and_fast(api: Api, project: Any, at: Any) -> None:
    """Ten slow calls and ten fast ones in the window; four slow ones long before it."""
    ingest(api, project, calls(10, latency=3000, start=at - timedelta(minutes=4), model="slow-model", prefix="s")
           + calls(10, latency=100, start=at - timedelta(minutes=4), model="fast-model", prefix="f")
           + calls(4, latency=3000, start=at - timedelta(hours=2), model="slow-model", prefix="old"))


def _queued(queue: Any) -> list[tuple[str, str]]:
    return sorted(Item.objects.filter(queue=queue).values_list("call__external_id", "call__model"))


def test_an_opening_incident_samples_n_calls_of_its_group_and_window_once(api: Api, project: Any, queue: Any,
                                                                         prices: None) -> None:
    at = at_minute(1)
    _slow_and_fast(api, project, at)
    alert = make_rule(project, name="slow answers", group_by=["model"], window_seconds=900, renotify_seconds=60,
                      actions=["notify", "sample_into_queue"])
    rule_create(queue=queue, actor=None, data={"kind": "incident", "alert_rule": alert.id, "count": 4})
    share = queue_create(project=project, actor=None, data={"name": "Half of it", "rubric": RUBRIC})
    rule_create(queue=share, actor=None, data={"kind": "incident", "alert_rule": alert.id, "rate": 0.5})

    assert rules_evaluate_due(now=at) == 1  # the beat's path: claim, read the rollups, fire
    incident = Incident.objects.get(rule=alert)
    assert incident.group == {"model": "slow-model"}
    queued = _queued(queue)
    assert len(queued) == 4
    assert all(model == "slow-model" and ext.startswith("s-") for ext, model in queued)  # the group, the window
    halved = _queued(share)
    assert 0 < len(halved) < 10 and all(ext.startswith("s-") for ext, _ in halved)
    item = Item.objects.filter(queue=queue).first()
    assert item.reason["rules"][0]["kind"] == "incident" and item.reason["rules"][0]["incident"] == incident.id
    assert item_reasons(item) == [
        f"4 calls behind each incident of alert rule 'slow answers': incident {incident.id} of 'slow answers' "
        "(model=slow-model)"]

    # A reminder two minutes later (still firing): the incident was sampled when it opened.
    assert [e.note for e in rule_evaluate(rule=alert, at=at + timedelta(minutes=2))] == ["still firing (reminder)"]
    assert _queued(queue) == queued and _queued(share) == halved


def test_without_the_action_or_with_a_disabled_rule_nothing_is_sampled(api: Api, project: Any, queue: Any,
                                                                      prices: None) -> None:
    at = at_minute(1)
    _slow_and_fast(api, project, at)
    alert = make_rule(project, group_by=["model"], window_seconds=900)  # notify only
    rule_create(queue=queue, actor=None, data={"kind": "incident", "alert_rule": alert.id, "count": 4})
    rules_evaluate_due(now=at)
    assert Incident.objects.filter(rule=alert).count() == 1
    assert not Item.objects.exists()


def test_the_rules_own_filters_and_the_daily_cap_apply(api: Api, project: Any, owner: Any, prices: None) -> None:
    at = at_minute(1)
    _slow_and_fast(api, project, at)
    capped = queue_create(project=project, actor=owner, data={"name": "Capped", "rubric": RUBRIC, "daily_cap": 3})
    alert = make_rule(project, window_seconds=900, condition_config={"op": "above", "critical": 500},
                      actions=["sample_into_queue"])  # ungrouped: every call of the window
    rule_create(queue=capped, actor=owner, data={"kind": "incident", "alert_rule": alert.id, "count": 20,
                                                 "models": ["fast-model"]})
    rules_evaluate_due(now=at)
    queued = _queued(capped)
    assert len(queued) == 3 and {model for _, model in queued} == {"fast-model"}
    assert capped.rules.get().kind == "incident"
    from review.models import QueueDay

    assert QueueDay.objects.get(queue=capped).left_out == 7


@pytest.mark.parametrize(("data", "field"), [
    ({"kind": "incident", "alert_rule": 10**12, "count": 3}, "alert_rule"),
    ({"kind": "incident", "alert_rule": "x", "count": 3}, "alert_rule"),
    ({"kind": "incident", "count": 3}, "alert_rule"),
    ({"kind": "incident", "alert_rule": None, "count": 3, "rate": 0.1}, "alert_rule"),
    ({"kind": "incident", "alert_rule": "ALERT", "count": 3, "rate": 0.1}, "count"),
    ({"kind": "incident", "alert_rule": "ALERT"}, "count"),
    ({"kind": "incident", "alert_rule": "ALERT", "count": 0}, "count"),
    ({"kind": "incident", "alert_rule": "ALERT", "rate": 1.5}, "rate"),
])
def test_a_bad_incident_rule_names_the_field(project: Any, queue: Any, data: dict[str, Any], field: str) -> None:
    alert = make_rule(project, group_by=["model"], window_seconds=900)
    data = {**data, "alert_rule": alert.id} if data.get("alert_rule") == "ALERT" else data
    with pytest.raises(Invalid) as raised:
        rule_create(queue=queue, actor=None, data=data)
    assert raised.value.field == field


def test_an_incident_rule_over_queue_figures_is_refused(project: Any, queue: Any) -> None:
    backlog = make_rule(project, name="backlog", source="review", measure="backlog", min_count=0,
                        condition_config={"op": "above", "critical": 200})
    with pytest.raises(Invalid) as raised:
        rule_create(queue=queue, actor=None, data={"kind": "incident", "alert_rule": backlog.id, "count": 3})
    assert raised.value.field == "alert_rule" and "not calls" in raised.value.message


def test_a_backfill_samples_the_incidents_opened_before_the_rule(api: Api, project: Any, queue: Any,
                                                                 prices: None) -> None:
    from review import routing

    at = at_minute(1)
    _slow_and_fast(api, project, at)
    alert = make_rule(project, name="slow answers", group_by=["model"], window_seconds=900,
                      actions=["notify", "sample_into_queue"])
    rules_evaluate_due(now=at)  # the incident opens while no incident rule exists: nothing sampled
    assert Incident.objects.filter(rule=alert).count() == 1 and not Item.objects.exists()
    rule = rule_create(queue=queue, actor=None, data={"kind": "incident", "alert_rule": alert.id, "count": 3})
    backfill = backfill_start(rule=rule, days=1, actor=None)
    assert not routing.backfill_step(backfill_id=backfill.id)  # one step
    backfill.refresh_from_db()
    assert (backfill.scanned, backfill.routed) == (1, 3) and backfill.finished_at is not None
    assert len(_queued(queue)) == 3 and all(ext.startswith("s-") for ext, _ in _queued(queue))


def test_an_incident_rule_is_not_applied_at_evaluation(api: Api, project: Any, queue: Any) -> None:
    """Routing after evaluation skips incident rules: their calls come from incidents only."""
    from tests.review.conftest import call, feed

    alert = make_rule(project, group_by=["model"], window_seconds=900)
    rule_create(queue=queue, actor=None, data={"kind": "incident", "alert_rule": alert.id, "rate": 1.0})
    feed(api, project, [call(i) for i in range(5)])
    assert not Item.objects.exists()


def test_the_queue_page_adds_an_incident_rule(project: Any, queue: Any, owner: Any) -> None:
    from tests.review.conftest import signed_in

    alert = make_rule(project, name="slow answers", group_by=["model"], window_seconds=900)
    client = signed_in(owner)
    page = client.get(f"/projects/{project.id}/review/{queue.id}/").content.decode()
    assert f'<option value="{alert.id}">slow answers</option>' in page
    client.post(f"/projects/{project.id}/review/{queue.id}/rules", {"kind": "incident", "alert_rule": str(alert.id),
                                                                    "count": "5"})
    rule = queue.rules.get()
    assert (rule.kind, rule.alert_rule_id, rule.sample_count, rule.sample_rate) == ("incident", alert.id, 5, None)
    assert "5 calls behind each incident of alert rule &#x27;slow answers&#x27; (idle: add sample_into_queue to " \
        "the alert rule&#x27;s actions)" in client.get(f"/projects/{project.id}/review/{queue.id}/"
                                                                   ).content.decode()
