"""Queue health as an alerts metric source: backlog and oldest age per queue, validated fields."""
from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone

from alerts.models import Rule
from alerts.registry import METRIC_SOURCES, RuleInvalid, Window
from alerts.services import rule_validate
from review.models import Item
from review.services import items_add
from tests.conftest import Api
from tests.review.conftest import call, feed

pytestmark = pytest.mark.django_db


def test_backlog_and_oldest_age_per_queue(api: Api, project: Any, queue: Any, owner: Any) -> None:
    feed(api, project, [call(1), call(2)], evaluate=False)
    items_add(queue=queue, call_ids=["c-1", "c-2"], actor=owner)
    Item.objects.filter(queue=queue).update(created_at=timezone.now() - timedelta(hours=25))
    source = METRIC_SOURCES["review"]
    now = timezone.now()
    window = Window(start=now - timedelta(minutes=5), end=now)
    backlog = Rule(project=project, name="b", source="review", measure="backlog", group_by=["queue"],
                   condition_config={"critical": 200})
    rule_validate(backlog)
    assert source.read(backlog, window).groups[("support-answers",)].value == 2
    oldest = Rule(project=project, name="o", source="review", measure="oldest_pending_seconds")
    assert source.read(oldest, window).groups[()].value > 24 * 3600
    for bad, field in [(Rule(project=project, name="x", source="review", measure="queue_depth"), "measure"),
                       (Rule(project=project, name="x", source="review", measure="backlog", group_by=["model"]),
                        "group_by"),
                       (Rule(project=project, name="x", source="review", measure="backlog", condition="anomaly"),
                        "condition")]:
        with pytest.raises(RuleInvalid) as refused:
            rule_validate(bad)
        assert refused.value.field == field
