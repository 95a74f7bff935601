"""Writes of the prompt registry: new versions, label moves, experiments. Each runs in one
transaction that also appends its LabelEvent and its audit entry, so history never describes a
change that did not happen. Every 4xx the APIs and pages answer is a PromptError raised here.
"""
from __future__ import annotations

import math
import re
import secrets
from dataclasses import dataclass
from typing import Any

from django.db import IntegrityError, transaction
from django.db.models import Max
from django.utils import timezone

from prompts.models import (
    DEFAULT_PROTECTED,
    LATEST,
    Arm,
    EventKind,
    Experiment,
    ExperimentStatus,
    Label,
    LabelEvent,
    Prompt,
    PromptType,
    PromptVersion,
)
from prompts.templating import TemplateError, parse_prompt
from tenancy.models import Project

MAX_NAME = 255
MAX_LABEL = 64
MAX_TAGS = 50
MAX_TEMPLATE_BYTES = 256 * 1024
MAX_CONFIG_BYTES = 64 * 1024
MAX_ARMS = 10
LABEL_NAME = re.compile(r"^[a-z0-9][a-z0-9_.\-]{0,63}$")
# Native API routes end in these segments after the name, so a name may not contain them as a segment.
RESERVED_SEGMENTS = frozenset({"versions", "labels", "diff", "render", "experiments", "guards", "dataset-runs"})
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


class PromptError(Exception):
    """A refused write or read, with the HTTP status and a stable code; `details` names the field."""

    def __init__(self, status: int, code: str, message: str, details: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.details = details


def _bad(field: str, message: str, code: str = "invalid") -> PromptError:
    return PromptError(400, code, f"{field}: {message}", {field: message})


@dataclass(frozen=True)
class Actor:
    """Who changes something: a person, a key, or the system. `can_protect` says whether they may
    move protected labels (owners, admins, and keys with the prompts scope, which only they create)."""

    user: Any = None
    label: str = "system"
    can_protect: bool = False
    audit_actor: Any = None  # what audit_record is given: a user, a KeyUser, or "system:<action>"

    @classmethod
    def system(cls, action: str) -> Actor:
        return cls(label=f"system:{action}", can_protect=True, audit_actor=f"system:{action}")


# --- validation ---------------------------------------------------------------------------------


def validate_name(name: Any) -> str:
    if not isinstance(name, str) or not name.strip():
        raise _bad("name", "a prompt needs a name")
    if len(name) > MAX_NAME:
        raise _bad("name", f"at most {MAX_NAME} characters")
    if _CONTROL.search(name) or name.startswith("/") or name.endswith("/") or "//" in name:
        raise _bad("name", "no control characters, and '/' only between folder names")
    if RESERVED_SEGMENTS & set(name.split("/")):
        raise _bad("name", f"a folder or name may not be one of {', '.join(sorted(RESERVED_SEGMENTS))}")
    return name


def validate_label(label: Any) -> str:
    if not isinstance(label, str) or not LABEL_NAME.match(label):
        raise _bad("label", f"'{str(label)[:80]}' is not a label: lowercase letters, digits, '_', '-' and '.', "
                            f"at most {MAX_LABEL}")
    if label == LATEST:
        raise _bad("label", "'latest' always follows the newest version and cannot be set")
    return label


def _json_size(value: Any) -> int:
    import json

    return len(json.dumps(value, ensure_ascii=False).encode())


def validate_config(config: Any) -> dict[str, Any]:
    """model, temperature, max_tokens, top_p and response_format are checked when present; any
    other key is kept as it is."""
    if config is None:
        return {}
    if not isinstance(config, dict):
        raise _bad("config", "an object")
    if _json_size(config) > MAX_CONFIG_BYTES:
        raise _bad("config", f"at most {MAX_CONFIG_BYTES // 1024} KB of JSON")

    def number(key: str, lo: float, hi: float) -> None:
        value = config.get(key)
        if value is not None and (isinstance(value, bool) or not isinstance(value, (int, float))
                                  or not math.isfinite(value) or not lo <= value <= hi):
            raise _bad(f"config.{key}", f"a number from {lo:g} to {hi:g}")

    if config.get("model") is not None and not isinstance(config["model"], str):
        raise _bad("config.model", "a string")
    number("temperature", 0, 2)
    number("top_p", 0, 1)
    max_tokens = config.get("max_tokens")
    if max_tokens is not None and (isinstance(max_tokens, bool) or not isinstance(max_tokens, int) or max_tokens < 1):
        raise _bad("config.max_tokens", "a positive integer")
    fmt = config.get("response_format")
    if fmt is not None and not isinstance(fmt, (str, dict)):
        raise _bad("config.response_format", "a string or an object")
    return config


def validate_template(kind: Any, template: Any) -> None:
    if kind not in PromptType.values:
        raise _bad("type", f"'{kind}' is not one of {', '.join(PromptType.values)}")
    if _json_size(template) > MAX_TEMPLATE_BYTES:
        raise _bad("prompt", f"at most {MAX_TEMPLATE_BYTES // 1024} KB")
    try:
        parse_prompt(kind, template)
    except TemplateError as exc:
        raise PromptError(400, "invalid_template", str(exc), {exc.where: exc.message}) from None


def validate_tags(tags: Any) -> list[str] | None:
    if tags is None:
        return None
    if not isinstance(tags, list) or len(tags) > MAX_TAGS or not all(
            isinstance(t, str) and 0 < len(t) <= 100 for t in tags):
        raise _bad("tags", f"a list of at most {MAX_TAGS} strings of 1 to 100 characters")
    return list(dict.fromkeys(tags))


# --- history ------------------------------------------------------------------------------------


def _event(prompt: Prompt, actor: Actor, kind: str, *, label: str = "", from_version: int | None = None,
           to_version: int | None = None, reason: str = "", details: dict[str, Any] | None = None) -> LabelEvent:
    event = LabelEvent.objects.create(
        prompt=prompt, kind=kind, label=label, from_version=from_version, to_version=to_version,
        actor_user_id=getattr(actor.user, "pk", None), actor_label=actor.label[:255], reason=reason,
        details=details or {})
    from prompts.events import publish

    publish(event)  # to the subscribed alerts channels, in this transaction
    return event


def audit(prompt: Prompt, actor: Actor, action: str, *, before: dict[str, Any] | None,
           after: dict[str, Any] | None) -> None:
    try:
        from audit.services import audit_record
    except ImportError:  # the audit app is optional to this one
        return
    project = prompt.project
    audit_record(actor=actor.audit_actor or actor.user or actor.label, action=action,
                 organization=project.organization_id, project=project, target_type="prompt",
                 target_id=prompt.pk, target_label=prompt.name, before=before, after=after)


def _on_change(prompt: Prompt) -> None:
    """Touch the prompt (its updated_at is Langfuse's lastUpdatedAt, and part of ETags)."""
    Prompt.objects.filter(pk=prompt.pk).update(updated_at=timezone.now())


# --- labels -------------------------------------------------------------------------------------


def check_protected(label: Label | None, name: str, actor: Actor) -> None:
    protected = label.protected if label is not None else name in DEFAULT_PROTECTED
    if protected and not actor.can_protect:
        raise PromptError(403, "protected_label",
                          f"'{name}' is a protected label: only owners and admins (or a key with the prompts "
                          "scope) may move it.", {"label": "protected"})


def label_move(*, prompt: Prompt, label: str, version: PromptVersion, actor: Actor, reason: str = "",
               kind: str = EventKind.LABEL_MOVED, details: dict[str, Any] | None = None) -> Label | None:
    """Point `label` at `version` (creating the label if new). Returns None when it already did."""
    validate_label(label)
    if version.prompt_id != prompt.pk:
        raise _bad("version", "a version of another prompt")
    with transaction.atomic():
        current = Label.objects.select_for_update().filter(prompt=prompt, name=label).first()
        check_protected(current, label, actor)
        if current is not None and current.version_id == version.pk:
            return None
        before = current.version.version if current is not None else None
        if current is None:
            current = Label.objects.create(prompt=prompt, name=label, version=version,
                                           protected=label in DEFAULT_PROTECTED)
        else:
            current.version = version
            current.save(update_fields=["version", "updated_at"])
        _event(prompt, actor, kind, label=label, from_version=before, to_version=version.version, reason=reason,
               details=details)
        audit(prompt, actor, "prompt.label_moved" if kind != EventKind.ROLLBACK else "prompt.label_rolled_back",
               before={"label": label, "version": before}, after={"label": label, "version": version.version})
        _on_change(prompt)
    return current


def label_remove(*, prompt: Prompt, label: str, actor: Actor, reason: str = "") -> None:
    with transaction.atomic():
        current = Label.objects.select_for_update().filter(prompt=prompt, name=label).first()
        if current is None:
            raise PromptError(404, "not_found", f"Prompt '{prompt.name}' has no label '{label}'.")
        check_protected(current, label, actor)
        if Experiment.objects.filter(prompt=prompt, label=label, status=ExperimentStatus.RUNNING).exists():
            raise PromptError(409, "experiment_running", f"An experiment runs on '{label}': stop or ship it first.")
        before = current.version.version
        current.delete()
        _event(prompt, actor, EventKind.LABEL_REMOVED, label=label, from_version=before, reason=reason)
        audit(prompt, actor, "prompt.label_removed", before={"label": label, "version": before}, after=None)
        _on_change(prompt)


def label_protect(*, prompt: Prompt, label: str, protected: bool, actor: Actor) -> Label:
    """Only those who may move protected labels may change protection (either way)."""
    if not actor.can_protect:
        raise PromptError(403, "forbidden", "Only owners and admins may change a label's protection.")
    with transaction.atomic():
        current = Label.objects.select_for_update().filter(prompt=prompt, name=label).first()
        if current is None:
            raise PromptError(404, "not_found", f"Prompt '{prompt.name}' has no label '{label}'.")
        if current.protected != protected:
            current.protected = protected
            current.save(update_fields=["protected", "updated_at"])
            _event(prompt, actor, EventKind.LABEL_PROTECTION, label=label, details={"protected": protected})
            audit(prompt, actor, "prompt.label_protection", before={"label": label, "protected": not protected},
                   after={"label": label, "protected": protected})
            _on_change(prompt)
    return current


# --- versions -----------------------------------------------------------------------------------


def prompt_version_create(*, project: Project, name: str, kind: str, template: Any, config: Any = None,
                          commit_message: str | None = "", labels: list[str] | None = None,
                          tags: list[str] | None = None, actor: Actor) -> PromptVersion:
    """A new immutable version (the prompt is created with its first one), then `labels` moved to it."""
    validate_name(name)
    validate_template(kind, template)
    config = validate_config(config)
    tags = validate_tags(tags)
    labels = list(dict.fromkeys(validate_label(label) for label in (labels or []) if label != LATEST))
    if commit_message is not None and not isinstance(commit_message, str):
        raise _bad("commitMessage", "a string")
    try:
        with transaction.atomic():
            prompt, _ = Prompt.objects.get_or_create(project=project, name=name, defaults={"tags": tags or []})
    except IntegrityError:  # created by a concurrent first version of the same new prompt: it exists now
        prompt = Prompt.objects.get(project=project, name=name)
    with transaction.atomic():
        prompt = Prompt.objects.select_for_update().get(pk=prompt.pk)  # numbers versions one at a time
        for label in labels:  # refuse before writing anything
            check_protected(Label.objects.filter(prompt=prompt, name=label).first(), label, actor)
        if tags is not None and tags != prompt.tags:
            prompt.tags = tags
            prompt.save(update_fields=["tags", "updated_at"])
        number = (prompt.versions.aggregate(n=Max("version"))["n"] or 0) + 1
        version = PromptVersion.objects.create(
            prompt=prompt, version=number, type=kind, template=template, config=config,
            commit_message=commit_message or "", author=actor.user, author_label=actor.label[:255])
        _event(prompt, actor, EventKind.VERSION_CREATED, label=LATEST, from_version=number - 1 or None,
               to_version=number, reason=commit_message or "")
        audit(prompt, actor, "prompt.version_created", before=None,
               after={"version": number, "type": kind, "commit_message": commit_message or "", "labels": labels})
        for label in labels:
            label_move(prompt=prompt, label=label, version=version, actor=actor, reason="with the new version")
        _on_change(prompt)
    return version


# --- experiments --------------------------------------------------------------------------------


def experiment_start(*, prompt: Prompt, label: str, arms: list[tuple[int, float]], actor: Actor, name: str = "",
                     salt: str | None = None) -> Experiment:
    """Split `label`'s traffic between versions by weight (normalised to sum to 1)."""
    validate_label(label)
    if not 2 <= len(arms) <= MAX_ARMS:
        raise _bad("arms", f"2 to {MAX_ARMS} arms")
    numbers = [a[0] for a in arms]
    if len(set(numbers)) != len(numbers):
        raise _bad("arms", "each version once")
    for number, weight in arms:
        if isinstance(weight, bool) or not isinstance(weight, (int, float)) or not math.isfinite(weight) or weight <= 0:
            raise _bad("arms", f"the weight of version {number} must be a positive number")
    if salt is not None and (not isinstance(salt, str) or not 1 <= len(salt) <= 64 or ":" in salt):
        raise _bad("salt", "1 to 64 characters, no ':'")
    versions = {v.version: v for v in PromptVersion.objects.filter(prompt=prompt, version__in=numbers)}
    missing = [n for n in numbers if n not in versions]
    if missing:
        raise PromptError(404, "not_found", f"Prompt '{prompt.name}' has no version {missing[0]}.",
                          {"arms": f"no version {missing[0]}"})
    total = float(sum(w for _, w in arms))
    with transaction.atomic():
        current = Label.objects.select_for_update().filter(prompt=prompt, name=label).first()
        if current is None:
            raise PromptError(404, "not_found", f"Prompt '{prompt.name}' has no label '{label}' to experiment on.")
        check_protected(current, label, actor)
        if Experiment.objects.filter(prompt=prompt, label=label, status=ExperimentStatus.RUNNING).exists():
            raise PromptError(409, "experiment_running", f"An experiment already runs on '{label}'.")
        experiment = Experiment.objects.create(prompt=prompt, label=label, name=name[:200],
                                               salt=salt or secrets.token_hex(8), started_by=actor.label[:255])
        Arm.objects.bulk_create([Arm(experiment=experiment, position=i, version=versions[n], weight=w / total)
                                 for i, (n, w) in enumerate(arms)])
        split = [{"version": n, "weight": w / total} for n, w in arms]
        _event(prompt, actor, EventKind.EXPERIMENT_STARTED, label=label, to_version=None,
               details={"experiment": experiment.pk, "arms": split, "salt": experiment.salt})
        audit(prompt, actor, "prompt.experiment_started", before=None,
               after={"experiment": experiment.pk, "label": label, "arms": split})
        _on_change(prompt)
    return experiment


def _experiment_end(experiment: Experiment, status: str, actor: Actor, winner: PromptVersion | None,
                    reason: str) -> Experiment:
    with transaction.atomic():
        locked = Experiment.objects.select_for_update().select_related("prompt__project").get(pk=experiment.pk)
        if locked.status != ExperimentStatus.RUNNING:
            raise PromptError(409, "experiment_ended", f"The experiment already {locked.status}.")
        prompt = locked.prompt
        check_protected(Label.objects.filter(prompt=prompt, name=locked.label).first(), locked.label, actor)
        if winner is not None:
            if not locked.arms.filter(version=winner).exists():
                raise _bad("version", f"version {winner.version} is not an arm of this experiment")
            label_move(prompt=prompt, label=locked.label, version=winner, actor=actor,
                       reason=reason or f"experiment {locked.pk} shipped")
        locked.status = status
        locked.ended_at = timezone.now()
        locked.winner = winner
        locked.save(update_fields=["status", "ended_at", "winner"])
        kind = EventKind.EXPERIMENT_SHIPPED if winner is not None else EventKind.EXPERIMENT_STOPPED
        _event(prompt, actor, kind, label=locked.label, to_version=winner.version if winner else None,
               reason=reason, details={"experiment": locked.pk})
        audit(prompt, actor, f"prompt.experiment_{status}", before={"experiment": locked.pk, "status": "running"},
               after={"experiment": locked.pk, "status": status, "winner": winner.version if winner else None})
        _on_change(prompt)
    return locked


def experiment_ship(*, experiment: Experiment, version: PromptVersion, actor: Actor, reason: str = "") -> Experiment:
    """Move the label to the winning arm's version and end the experiment."""
    return _experiment_end(experiment, ExperimentStatus.SHIPPED, actor, version, reason)


def experiment_stop(*, experiment: Experiment, actor: Actor, reason: str = "") -> Experiment:
    """End the experiment; the label stays where it was."""
    return _experiment_end(experiment, ExperimentStatus.STOPPED, actor, None, reason)


# --- rollback (the alerts action) ---------------------------------------------------------------


def previous_version(current: Label) -> PromptVersion | None:
    """The version `current` pointed at before its present one (its last move's `from`), else the
    newest older version; None when there is none. What a rollback goes back to, and what a guard
    "worse than the previous version" compares with."""
    prompt_id = current.prompt_id
    last_move = (LabelEvent.objects.filter(prompt_id=prompt_id, label=current.name,
                                           to_version=current.version.version,
                                           kind__in=[EventKind.LABEL_MOVED, EventKind.EXPERIMENT_SHIPPED,
                                                     EventKind.ROLLBACK])
                 .exclude(from_version=None).order_by("-at", "-id").first())
    target = None
    if last_move is not None:
        target = PromptVersion.objects.filter(prompt_id=prompt_id, version=last_move.from_version).first()
    if target is None:
        target = (PromptVersion.objects.filter(prompt_id=prompt_id, version__lt=current.version.version)
                  .order_by("-version").first())
    return target


def label_rollback(*, prompt: Prompt, label: str, actor: Actor, reason: str,
                   details: dict[str, Any] | None = None) -> Label | None:
    """Move `label` back to the version it pointed at before its current one (its last move's
    `from`), else the newest older version. None when there is nothing to go back to."""
    current = Label.objects.select_related("version").filter(prompt=prompt, name=label).first()
    if current is None:
        return None
    target = previous_version(current)
    if target is None:
        return None
    return label_move(prompt=prompt, label=label, version=target, actor=actor, reason=reason,
                      kind=EventKind.ROLLBACK, details=details)


def rollback_action(transition: Any) -> None:
    """alerts action "rollback_label": when a rule filtered on one prompt_name fires, move that
    prompt's `production` label (or the rule's condition_config["label"]) back one version, if it
    still points at the firing version (the instance's prompt_version group, or the rule's one
    prompt_version filter; without either, whatever it points at)."""
    if transition.kind != "trigger":
        return
    rule = transition.rule
    names = (rule.filters or {}).get("prompt_name") or []
    if len(names) != 1:
        return
    label = (rule.condition_config or {}).get("label") or "production"
    prompt = Prompt.objects.filter(project_id=rule.project_id, name=names[0]).first()
    if prompt is None:
        return
    firing = (transition.instance.group or {}).get("prompt_version")
    if firing is None and len((rule.filters or {}).get("prompt_version") or []) == 1:
        firing = rule.filters["prompt_version"][0]
    current = Label.objects.select_related("version").filter(prompt=prompt, name=label).first()
    if current is None or (firing is not None and str(current.version.version) != str(firing)):
        return
    label_rollback(prompt=prompt, label=label, actor=Actor.system("alert_rollback"),
                   reason=f"alert rule '{rule.name}' fired",
                   details={"rule": rule.pk, "value": transition.instance.last_value})
