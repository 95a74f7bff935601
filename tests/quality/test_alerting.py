"""Evaluation queue lag as an alerts metric source: a rule on it fires through the alerts
evaluation while calls wait, resolves once the evaluators have caught up, and refuses the fields
a state cannot take."""
from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone

from alerts.evaluation import rule_evaluate
from alerts.models import Rule, RuleInstance
from alerts.registry import RuleInvalid
from alerts.services import rule_create, rule_validate
from quality.models import PendingEvaluation
from quality.services import project_evaluate
from telemetry.services import project_process
from tests.conftest import Api, call_event

pytestmark = pytest.mark.django_db


def _rule(project: Any, measure: str, critical: float) -> Rule:
    return rule_create(project=project, actor=None, name=measure, source="quality", measure=measure,
                       condition="threshold", condition_config={"op": "above", "critical": critical},
                       window_seconds=60, min_count=1)


def test_a_lagging_evaluation_queue_fires_and_resolves_once_evaluated(api: Api, project: Any) -> None:
    assert api.ingest([call_event(i) for i in range(5)]).status_code == 202
    while project_process(project_id=project.id):
        pass
    # The calls have waited 20 minutes for their evaluators.
    PendingEvaluation.objects.update(enqueued_at=timezone.now() - timedelta(minutes=20))
    lag = _rule(project, "evaluation_lag_seconds", 600)
    backlog = _rule(project, "evaluation_backlog", 3)
    now = timezone.now()
    rule_evaluate(rule=lag, at=now)
    rule_evaluate(rule=backlog, at=now)
    assert RuleInstance.objects.get(rule=lag).state == "firing"
    assert RuleInstance.objects.get(rule=lag).last_value >= 1200
    assert RuleInstance.objects.get(rule=backlog).state == "firing"
    while project_evaluate(project_id=project.id):
        pass
    later = now + timedelta(minutes=1)
    rule_evaluate(rule=Rule.objects.get(pk=lag.pk), at=later)
    rule_evaluate(rule=Rule.objects.get(pk=backlog.pk), at=later)
    assert RuleInstance.objects.get(rule=lag).state in ("resolved", "ok")
    assert RuleInstance.objects.get(rule=backlog).state in ("resolved", "ok")


@pytest.mark.parametrize(("fields", "field"), [
    ({"measure": "queue_depth"}, "measure"),
    ({"group_by": ["model"]}, "group_by"),
    ({"filters": {"model": ["gpt-4o"]}}, "filters"),
    ({"condition": "change", "condition_config": {"baseline": "previous", "critical": 0.5}}, "condition"),
])
def test_evaluation_lag_refuses_what_a_state_cannot_take(project: Any, fields: dict[str, Any], field: str) -> None:
    values = {"measure": "evaluation_lag_seconds", "condition_config": {"op": "above", "critical": 600}, **fields}
    rule = Rule(project=project, name="x", source="quality", **values)
    with pytest.raises(RuleInvalid) as refused:
        rule_validate(rule)
    assert refused.value.field == field
