"""Writes: rules (with their routes), channels (secrets encrypted), silences, acknowledging an
incident, and the channel test. Every check that can fail raises RuleInvalid(field, message),
which the API turns into a 400 naming the field and the forms into a field error."""
from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

from django.apps import apps
from django.db import transaction

from alerts.conditions import condition_for
from alerts.delivery import notification_send
from alerts.evaluation import minute_of
from alerts.models import (
    Channel,
    Incident,
    NoDataPolicy,
    Notification,
    Route,
    Rule,
    Severity,
    Silence,
)
from alerts.registry import ACTIONS, METRIC_SOURCES, RuleInvalid
from alerts.transports import TRANSPORTS
from tenancy.models import Project

RULE_FIELDS = ("name", "source", "measure", "score", "flag", "filters", "group_by", "condition", "condition_config",
               "window_seconds", "min_count", "pending_seconds", "recovery_hysteresis", "no_data_policy",
               "renotify_seconds", "severity", "enabled", "actions")
MAX_RULES_PER_PROJECT = 1000


def _audit(*, actor: Any, action: str, project: Project, target: Any, label: str,
           before: dict[str, Any] | None = None, after: dict[str, Any] | None = None) -> None:
    """The audit trail (audit/ app), when installed; alerts/ works without it."""
    if not apps.is_installed("audit"):
        return
    from audit.services import audit_record

    audit_record(actor=actor, action=action, organization=project.organization_id, project=project,
                 target_type=type(target).__name__.lower(), target_id=target.pk, target_label=label[:255],
                 before=before, after=after)


def _snapshot(rule: Rule) -> dict[str, Any]:
    return {name: getattr(rule, name) for name in RULE_FIELDS}


def rule_validate(rule: Rule) -> None:
    if not rule.name.strip():
        raise RuleInvalid("name", "is required")
    if rule.source not in METRIC_SOURCES:
        raise RuleInvalid("source", f"one of {', '.join(sorted(METRIC_SOURCES))}")
    METRIC_SOURCES[rule.source].validate(rule)
    condition_for(rule.condition, rule.condition_config).check(rule)
    if rule.no_data_policy not in NoDataPolicy.values:
        raise RuleInvalid("no_data_policy", f"one of {', '.join(NoDataPolicy.values)}")
    if rule.severity not in Severity.values:
        raise RuleInvalid("severity", f"one of {', '.join(Severity.values)}")
    if rule.pending_seconds > 30 * 86400 or rule.renotify_seconds > 30 * 86400:
        raise RuleInvalid("pending_seconds" if rule.pending_seconds > 30 * 86400 else "renotify_seconds",
                          "at most 30 days")
    if rule.recovery_hysteresis < 0:
        raise RuleInvalid("recovery_hysteresis", "must be 0 or more")
    unknown = [a for a in rule.actions if a not in ACTIONS]
    if unknown:
        raise RuleInvalid("actions", f"unknown action {unknown[0]!r}; one of {', '.join(sorted(ACTIONS))}")


def _routes_set(rule: Rule, routes: list[dict[str, Any]]) -> None:
    channels = {c.id: c for c in Channel.objects.filter(project_id=rule.project_id)}
    wanted: dict[int, list[str]] = {}
    for route in routes:
        channel_id, severities = route.get("channel"), route.get("severities") or list(Severity.values)
        if channel_id not in channels:
            raise RuleInvalid("routes", f"no channel {channel_id} in this project")
        if any(s not in Severity.values for s in severities):
            raise RuleInvalid("routes", f"severities among {', '.join(Severity.values)}")
        wanted[channel_id] = sorted(set(severities))
    Route.objects.filter(rule=rule).exclude(channel_id__in=wanted).delete()
    for channel_id, severities in wanted.items():
        Route.objects.update_or_create(rule=rule, channel_id=channel_id, defaults={"severities": severities})


def rule_create(*, project: Project, actor: Any, routes: list[dict[str, Any]] | None = None, **fields: Any) -> Rule:
    unknown = set(fields) - set(RULE_FIELDS)
    if unknown:
        raise RuleInvalid(sorted(unknown)[0], "unknown field")
    rule = Rule(project=project, created_by=actor if getattr(actor, "pk", None) else None, **fields)
    rule_validate(rule)
    with transaction.atomic():
        if Rule.objects.filter(project=project).count() >= MAX_RULES_PER_PROJECT:
            raise RuleInvalid("name", f"a project holds at most {MAX_RULES_PER_PROJECT} rules")
        rule.next_evaluation_at = minute_of(datetime.now(timezone.utc))  # due this very minute
        rule.save()
        _routes_set(rule, routes or [])
        _audit(actor=actor, action="alerts.rule.create", project=project, target=rule, label=rule.name,
               after=_snapshot(rule))
    return rule


def rule_update(*, rule: Rule, actor: Any, routes: list[dict[str, Any]] | None = None, **fields: Any) -> Rule:
    unknown = set(fields) - set(RULE_FIELDS)
    if unknown:
        raise RuleInvalid(sorted(unknown)[0], "unknown field")
    before = _snapshot(rule)
    for name, value in fields.items():
        setattr(rule, name, value)
    rule_validate(rule)
    with transaction.atomic():
        rule.next_evaluation_at = minute_of(datetime.now(timezone.utc))  # evaluate the new definition now
        rule.save()
        if routes is not None:
            _routes_set(rule, routes)
        _audit(actor=actor, action="alerts.rule.update", project=rule.project, target=rule, label=rule.name,
               before=before, after=_snapshot(rule))
    return rule


def rule_delete(*, rule: Rule, actor: Any) -> None:
    with transaction.atomic():
        _audit(actor=actor, action="alerts.rule.delete", project=rule.project, target=rule, label=rule.name,
               before=_snapshot(rule))
        rule.delete()


def channel_create(*, project: Project, actor: Any, kind: str, name: str, config: dict[str, Any] | None = None,
                   secrets: dict[str, Any] | None = None) -> tuple[Channel, dict[str, Any]]:
    """The channel and the secrets to show once (a generated webhook signing secret)."""
    if kind not in TRANSPORTS:
        raise RuleInvalid("kind", f"one of {', '.join(TRANSPORTS)}")
    if not name.strip():
        raise RuleInvalid("name", "is required")
    clean_config, clean_secrets = TRANSPORTS[kind].clean(config or {}, secrets or {})
    channel = Channel(project=project, kind=kind, name=name.strip()[:200], config=clean_config,
                      created_by=actor if getattr(actor, "pk", None) else None)
    channel.set_secrets(clean_secrets)
    with transaction.atomic():
        channel.save()
        _audit(actor=actor, action="alerts.channel.create", project=project, target=channel, label=channel.name,
               after={"kind": kind, "name": channel.name, "config": clean_config})
    shown = {"secret": clean_secrets["secret"]} if "secret" in clean_secrets and not (secrets or {}).get("secret") \
        else {}
    return channel, shown


def channel_update(*, channel: Channel, actor: Any, name: str | None = None, config: dict[str, Any] | None = None,
                   secrets: dict[str, Any] | None = None) -> Channel:
    """Change name, config or secrets (secrets left out keep their stored values); a change of
    config or secrets re-enables a channel a permanent error disabled."""
    before = {"name": channel.name, "config": channel.config}
    if name is not None:
        if not name.strip():
            raise RuleInvalid("name", "is required")
        channel.name = name.strip()[:200]
    if config is not None or secrets is not None:
        merged = {**channel.secrets(), **{k: v for k, v in (secrets or {}).items() if v}}
        channel.config, clean_secrets = TRANSPORTS[channel.kind].clean(
            config if config is not None else channel.config, merged)
        channel.set_secrets(clean_secrets)
        channel.disabled_reason, channel.disabled_at = "", None
    with transaction.atomic():
        channel.save()
        _audit(actor=actor, action="alerts.channel.update", project=channel.project, target=channel,
               label=channel.name, before=before, after={"name": channel.name, "config": channel.config})
    return channel


def channel_delete(*, channel: Channel, actor: Any) -> None:
    with transaction.atomic():
        _audit(actor=actor, action="alerts.channel.delete", project=channel.project, target=channel,
               label=channel.name, before={"kind": channel.kind, "name": channel.name})
        channel.delete()


def channel_test(*, channel: Channel, actor: Any) -> Notification:
    """Send a test notification now, through the outbox row and the transport real alerts use."""
    now = datetime.now(timezone.utc)
    who = getattr(actor, "get_username", lambda: str(actor))()
    notification = Notification.objects.create(
        project_id=channel.project_id, channel=channel, kind="test", next_attempt_at=now, claimed_at=now,
        message={"type": "alert.test", "summary": f"Test notification for channel {channel.name} (sent by {who})",
                 "project": {"id": channel.project_id, "name": channel.project.name}, "rule": {"id": None, "name": ""},
                 "instance_id": None, "incident": {"id": None, "url": ""}, "severity": "warning", "state": "test",
                 "group": {}, "measure": "", "value": None, "threshold": None, "window_seconds": 0,
                 "at": now.isoformat(), "note": "test"})
    return notification_send(notification=notification)


def silence_create(*, project: Project, actor: Any, ends_at: datetime, rule: Rule | None = None,
                   group: dict[str, str] | None = None, reason: str = "",
                   starts_at: datetime | None = None) -> Silence:
    now = datetime.now(timezone.utc)
    starts_at = starts_at or now
    if ends_at <= max(starts_at, now):
        raise RuleInvalid("ends_at", "must be in the future and after the start")
    if rule is not None and rule.project_id != project.id:
        raise RuleInvalid("rule", "no such rule in this project")
    group = group or {}
    if not isinstance(group, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in group.items()):
        raise RuleInvalid("group", "an object of dimension → value")
    silence = Silence(project=project, rule=rule, group=group, starts_at=starts_at, ends_at=ends_at,
                      reason=reason[:500], created_by=actor if getattr(actor, "pk", None) else None)
    with transaction.atomic():
        silence.save()
        _audit(actor=actor, action="alerts.silence.create", project=project, target=silence,
               label=reason or "silence", after={"rule": rule.id if rule else None, "group": group,
                                                 "ends_at": ends_at.isoformat()})
    return silence


def silence_end(*, silence: Silence, actor: Any) -> Silence:
    now = datetime.now(timezone.utc)
    with transaction.atomic():
        Silence.objects.filter(pk=silence.pk).update(ends_at=now)
        silence.ends_at = now
        _audit(actor=actor, action="alerts.silence.end", project=silence.project, target=silence,
               label=silence.reason or "silence")
    return silence


def incident_acknowledge(*, incident: Incident, user: Any) -> Incident:
    """Idempotent: the first acknowledgement is kept."""
    now = datetime.now(timezone.utc)
    with transaction.atomic():
        updated = Incident.objects.filter(pk=incident.pk, acknowledged_at__isnull=True).update(
            acknowledged_at=now, acknowledged_by=user if getattr(user, "pk", None) else None)
        if updated:
            _audit(actor=user, action="alerts.incident.acknowledge", project=incident.project, target=incident,
                   label=str(incident.rule.name))
    incident.refresh_from_db()
    return incident
