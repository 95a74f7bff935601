"""The alerts action prompts registers: a firing rule on one prompt rolls its production label back,
only while the label still points at the firing version."""
from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest

from prompts import selectors
from prompts.services import label_move

pytestmark = pytest.mark.django_db


def _transition(rule: Any, version: str, kind: str = "trigger") -> Any:
    return SimpleNamespace(rule=rule, kind=kind, muted=False, incident=None, event=None,
                           instance=SimpleNamespace(group={"prompt_version": version}, last_value=0.12))


def test_a_firing_rule_rolls_the_label_back_once(project: Any, greeting: Any) -> None:
    from alerts.models import Rule
    from alerts.registry import ACTIONS
    from tests.prompts.conftest import OWNER

    label_move(prompt=greeting, label="production", version=greeting.versions.get(version=2), actor=OWNER)
    rule = Rule.objects.create(project=project, name="hallucinations", measure="flag_rate", flag="hallucination",
                               filters={"prompt_name": ["greeting"]}, group_by=["prompt_version"],
                               condition_config={"op": ">", "value": 0.05})
    rollback = ACTIONS["rollback_label"]
    rollback(_transition(rule, "1"))  # not the version production serves: nothing happens
    rollback(_transition(rule, "2", kind="resolve"))
    assert selectors.resolve(project=project, name="greeting").version.version == 2
    rollback(_transition(rule, "2"))
    assert selectors.resolve(project=project, name="greeting").version.version == 1
    event = greeting.events.order_by("-id").first()
    assert (event.kind, event.actor_label, event.from_version, event.to_version) == (
        "rollback", "system:alert_rollback", 2, 1)
    assert event.details == {"rule": rule.pk, "value": 0.12}
    rollback(_transition(rule, "2"))  # fired again for v2: production is on v1 now, it stays
    assert selectors.resolve(project=project, name="greeting").version.version == 1
