"""Registry writes: immutable numbered versions, labels and protected labels, the history, the
audit entries, experiments and rollback."""
from __future__ import annotations

from typing import Any

import pytest
from django.db import IntegrityError, connection, transaction

from audit.models import AuditEntry
from prompts import selectors
from prompts.models import EventKind, LabelEvent, PromptVersion
from prompts.services import (
    Actor,
    PromptError,
    experiment_ship,
    experiment_start,
    experiment_stop,
    label_move,
    label_rollback,
    prompt_version_create,
)
from tests.prompts.conftest import MEMBER, OWNER

pytestmark = pytest.mark.django_db


def test_versions_are_numbered_per_prompt_and_latest_follows(project: Any, greeting: Any) -> None:
    other = prompt_version_create(project=project, name="other", kind="text", template="x", actor=OWNER)
    assert other.version == 1
    assert list(greeting.versions.order_by("version").values_list("version", flat=True)) == [1, 2]
    assert selectors.resolve(project=project, name="greeting", label="latest").version.version == 2
    v3 = prompt_version_create(project=project, name="greeting", kind="text", template="v3", actor=OWNER)
    resolved = selectors.resolve(project=project, name="greeting", label="latest")
    assert resolved.version == v3 and resolved.labels == ["latest"]
    assert selectors.resolve(project=project, name="greeting").version.version == 1  # production by default


def test_a_version_cannot_be_updated_even_in_sql(greeting: Any) -> None:
    with pytest.raises(Exception, match="immutable"), transaction.atomic(), connection.cursor() as cur:
        cur.execute("UPDATE prompts_promptversion SET template = '\"x\"' WHERE prompt_id = %s", [greeting.pk])
    with pytest.raises(Exception, match="immutable"), transaction.atomic():
        LabelEvent.objects.filter(prompt=greeting).update(reason="rewritten")


def test_latest_is_never_a_stored_label(project: Any, greeting: Any) -> None:
    with pytest.raises(PromptError, match="latest"):
        label_move(prompt=greeting, label="latest", version=greeting.versions.get(version=1), actor=OWNER)


def test_production_is_protected_from_members_but_not_from_owners(project: Any, greeting: Any) -> None:
    v2 = greeting.versions.get(version=2)
    with pytest.raises(PromptError) as info:
        label_move(prompt=greeting, label="production", version=v2, actor=MEMBER)
    assert info.value.status == 403
    with pytest.raises(PromptError):  # nor with a new version
        prompt_version_create(project=project, name="greeting", kind="text", template="x", labels=["production"],
                              actor=MEMBER)
    assert greeting.versions.count() == 2
    label_move(prompt=greeting, label="staging", version=greeting.versions.get(version=1), actor=MEMBER)
    label_move(prompt=greeting, label="production", version=v2, actor=OWNER, reason="ship it")
    assert selectors.resolve(project=project, name="greeting").version == v2


def test_every_move_and_version_is_in_the_history_and_the_audit_log(project: Any, greeting: Any) -> None:
    v2 = greeting.versions.get(version=2)
    label_move(prompt=greeting, label="production", version=v2, actor=OWNER, reason="better")
    events = list(greeting.events.order_by("id").values_list("kind", "label", "from_version", "to_version"))
    assert events[-1] == (EventKind.LABEL_MOVED, "production", 1, 2)
    assert (EventKind.VERSION_CREATED, "latest", 1, 2) in events
    assert greeting.events.order_by("id").last().reason == "better"
    actions = list(AuditEntry.objects.filter(project_id=project.id, target_type="prompt")
                   .values_list("action", flat=True))
    assert actions.count("prompt.version_created") == 2 and "prompt.label_moved" in actions


def test_a_version_of_another_prompt_cannot_be_labelled(project: Any, greeting: Any) -> None:
    other = prompt_version_create(project=project, name="other", kind="text", template="x", actor=OWNER)
    with pytest.raises(PromptError, match="another prompt"):
        label_move(prompt=greeting, label="staging", version=other, actor=OWNER)


@pytest.mark.parametrize(("fields", "named"), [
    ({"template": "Hello {{name"}, "prompt"),
    ({"kind": "chat", "template": [{"role": "user", "content": "}}"}]}, "prompt[0].content"),
    ({"config": {"temperature": 7}}, "config.temperature"),
    ({"config": {"max_tokens": 0}}, "config.max_tokens"),
    ({"name": "a//b"}, "name"),
    ({"name": "x/versions"}, "name"),
    ({"labels": ["Bad Label"]}, "label"),
])
def test_bad_input_is_refused_naming_the_field(project: Any, fields: dict[str, Any], named: str) -> None:
    args = {"project": project, "name": "p", "kind": "text", "template": "ok", "actor": OWNER, **fields}
    with pytest.raises(PromptError) as info:
        prompt_version_create(**args)
    assert info.value.status == 400 and named in info.value.details
    assert not PromptVersion.objects.exists()


def test_config_keeps_extra_keys(project: Any) -> None:
    config = {"model": "m", "temperature": 0.5, "max_tokens": 100, "top_p": 0.9,
              "response_format": {"type": "json_object"}, "seed": 7}
    assert prompt_version_create(project=project, name="p", kind="text", template="x", config=config,
                                 actor=OWNER).config == config


def test_an_experiment_assigns_units_stickily_and_ships(project: Any, greeting: Any) -> None:
    experiment = experiment_start(prompt=greeting, label="production", arms=[(1, 50), (2, 50)], actor=OWNER,
                                  salt="s1")
    with pytest.raises(PromptError) as info:
        experiment_start(prompt=greeting, label="production", arms=[(1, 1), (2, 1)], actor=OWNER)
    assert info.value.status == 409
    seen = {selectors.resolve(project=project, name="greeting", unit=f"user-{i}").version.version for i in range(50)}
    assert seen == {1, 2}
    first = selectors.resolve(project=project, name="greeting", unit="user-42")
    assert first.experiment == experiment and first.via == "experiment"
    assert selectors.resolve(project=project, name="greeting", unit="user-42").version == first.version
    assert selectors.resolve(project=project, name="greeting").version.version == 1  # no unit: the label's version
    with pytest.raises(PromptError):
        experiment_ship(experiment=experiment, version=greeting.versions.get(version=2), actor=MEMBER)
    experiment_ship(experiment=experiment, version=greeting.versions.get(version=2), actor=OWNER)
    assert selectors.resolve(project=project, name="greeting", unit="user-42").version.version == 2
    assert selectors.resolve(project=project, name="greeting", unit="user-42").experiment is None
    with pytest.raises(PromptError, match="already shipped"):
        experiment_stop(experiment=experiment, actor=OWNER)
    assert AuditEntry.objects.filter(action="prompt.experiment_shipped").exists()


def test_one_running_experiment_per_label_in_the_database_too(greeting: Any) -> None:
    from prompts.models import Experiment

    Experiment.objects.create(prompt=greeting, label="production", salt="a", started_by="x")
    with pytest.raises(IntegrityError), transaction.atomic():
        Experiment.objects.create(prompt=greeting, label="production", salt="b", started_by="x")


def test_rollback_returns_the_label_to_where_it_was(project: Any, greeting: Any) -> None:
    v3 = prompt_version_create(project=project, name="greeting", kind="text", template="v3", actor=OWNER)
    label_move(prompt=greeting, label="production", version=v3, actor=OWNER)
    label_rollback(prompt=greeting, label="production", actor=Actor.system("test"), reason="flag rate",
                   details={"flag_rate": 0.09})
    assert selectors.resolve(project=project, name="greeting").version.version == 1  # where it came from, not v2
    event = greeting.events.order_by("-id").first()
    assert (event.kind, event.from_version, event.to_version, event.actor_label) == ("rollback", 3, 1, "system:test")
    assert event.details == {"flag_rate": 0.09}
