"""Evaluation: claim the rules that are due, read each one's windows through its metric source,
apply the condition per group and step each instance's state machine; state changes, incidents
and outbox rows are written in one transaction.

Two beat ticks, or two workers on the same minute, make one transition: the claim is a
conditional UPDATE of next_evaluation_at (only one of two concurrent updates still sees the rule
due), and the writes run under a per-rule transaction advisory lock and skip instances already
evaluated for that minute.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any

from django.db import connection, transaction

from alerts.conditions import Outcome, Values, condition_for
from alerts.models import Incident, Rule, RuleInstance, Silence, State, StateEvent
from alerts.registry import ACTIONS, METRIC_SOURCES, GroupValue, Reading, RuleInvalid, Transition, Window
from alerts.state import Current, Timing, step

log = logging.getLogger(__name__)
MINUTE = timedelta(minutes=1)
CLAIM_BATCH = 100
_LOCK_NAMESPACE = 7_013  # pg_advisory_xact_lock(namespace, rule id): "alerts rule" locks


def minute_of(now: datetime) -> datetime:
    return now.astimezone(timezone.utc).replace(second=0, microsecond=0)


def rules_claim(*, at: datetime, limit: int = CLAIM_BATCH) -> list[int]:
    """Ids of due rules, moved to their next minute. The ids are picked in a MATERIALIZED CTE and
    the UPDATE re-checks the row (STYLE.md point 11): no per-row re-run of the LIMIT subquery, and
    of two concurrent claims only one updates a given rule."""
    with connection.cursor() as cur:
        cur.execute(
            """
            WITH due AS MATERIALIZED (
                SELECT id FROM alerts_rule
                WHERE enabled AND next_evaluation_at <= %(at)s
                ORDER BY next_evaluation_at LIMIT %(limit)s
            )
            UPDATE alerts_rule r SET next_evaluation_at = %(next)s
            FROM due WHERE r.id = due.id AND r.enabled AND r.next_evaluation_at <= %(at)s
            RETURNING r.id
            """, {"at": at, "next": at + MINUTE, "limit": limit})
        return [row[0] for row in cur.fetchall()]


def rules_evaluate_due(*, now: datetime | None = None) -> int:
    """Evaluate every rule due at `now` (a beat tick). Returns how many were evaluated."""
    at = minute_of(now or datetime.now(timezone.utc))
    done = 0
    while ids := rules_claim(at=at):
        for rule in Rule.objects.filter(id__in=ids).select_related("project"):
            try:
                rule_evaluate(rule=rule, at=at)
            except Exception:  # one broken rule must not stop the others; it is retried next minute
                log.exception("alerts: evaluating rule %s failed", rule.id)
            done += 1
    return done


@dataclass
class _Read:
    current: Reading
    baselines: list[Reading]


def _read(rule: Rule, at: datetime) -> tuple[_Read | None, str, Any]:
    try:
        source = METRIC_SOURCES[rule.source]
        condition = condition_for(rule.condition, rule.condition_config)
        window = Window(at - timedelta(seconds=rule.window_seconds), at)
        current = source.read(rule, window)
        baselines = [source.read(rule, w) for w in condition.baselines(window)]
        return _Read(current, baselines), "", condition
    except (KeyError, RuleInvalid, ValueError) as exc:
        return None, f"{type(exc).__name__}: {exc}"[:300], None


def _enough(value: GroupValue | None, min_count: int) -> GroupValue | None:
    return value if value is not None and value.count >= min_count else None


def _outcome(rule: Rule, condition: Any, read: _Read, key: tuple[str, ...], firing: str) -> Outcome:
    current = read.current.groups.get(key, GroupValue(None, 0))
    if not condition.reads_current:  # burn rates and budgets gate their own windows
        values = Values(current=current, baselines=[_enough(b.groups.get(key), rule.min_count) for b in read.baselines],
                        hysteresis=rule.recovery_hysteresis, firing=firing)
        return condition.evaluate(values)
    if current.value is None or current.count < max(rule.min_count, 1):
        return Outcome("no_data", value=current.value,
                       note=f"not enough data ({current.count} < {max(rule.min_count, 1)})")
    values = Values(current=current, baselines=[b.groups.get(key) for b in read.baselines],
                    hysteresis=rule.recovery_hysteresis, firing=firing)
    return condition.evaluate(values)


def rule_evaluate(*, rule: Rule, at: datetime) -> list[StateEvent]:
    """Evaluate one rule for the minute `at`; returns the state events written."""
    read, error, condition = _read(rule, at)
    group_dims = list(rule.group_by)
    with transaction.atomic():
        with connection.cursor() as cur:
            cur.execute("SELECT pg_advisory_xact_lock(%s, %s)", [_LOCK_NAMESPACE, rule.id])
        if Rule.objects.filter(pk=rule.pk, last_evaluated_at__gte=at).exists():
            return []  # another tick or worker already evaluated this minute
        instances = {i.group_key: i for i in RuleInstance.objects.select_for_update().filter(rule=rule)}
        keys: dict[str, tuple[str, ...]] = {}
        if not group_dims:
            keys[""] = ()
        elif read is not None:
            readings = [read.current] if condition.reads_current else read.baselines
            for reading in readings:
                for key in reading.groups:
                    keys[RuleInstance.key_of(dict(zip(group_dims, key, strict=True)))] = key
        for group_key, instance in instances.items():
            keys.setdefault(group_key, tuple(instance.group.get(d, "") for d in group_dims))
        silences = list(Silence.objects.filter(project_id=rule.project_id, starts_at__lte=at, ends_at__gt=at))
        timing = Timing(rule.pending_seconds, rule.renotify_seconds, rule.no_data_policy, rule.severity)
        events: list[StateEvent] = []
        for group_key, key in keys.items():
            instance = instances.get(group_key)
            firing = instance.severity if instance is not None and instance.state == State.FIRING else ""
            outcome = Outcome("error", note=error) if read is None else _outcome(rule, condition, read, key, firing)
            if instance is None:
                if outcome.status not in ("breach",):
                    continue  # groups get an instance when they first breach: not one per value ever seen
                group = dict(zip(group_dims, key, strict=True))
                instance = RuleInstance.objects.create(rule=rule, group_key=group_key, group=group, state=State.OK,
                                                       since=at)
            event = _apply(rule, instance, outcome, timing, at, silences)
            if event is not None:
                events.append(event)
        Rule.objects.filter(pk=rule.pk).update(last_evaluated_at=at, last_error=error)
    return events


def _apply(rule: Rule, instance: RuleInstance, outcome: Outcome, timing: Timing, at: datetime,
           silences: list[Silence]) -> StateEvent | None:
    cur = Current(instance.state, instance.severity, instance.since, instance.last_notified_at,
                  has_incident=instance.incident_id is not None)
    result = step(cur, outcome, timing, at)
    instance.last_evaluated_at = at
    if outcome.value is not None:
        instance.last_value = outcome.value
    event = None
    if result.changed:
        if result.open_incident:
            instance.incident = Incident.objects.create(
                project_id=rule.project_id, rule=rule, instance=instance, group=instance.group,
                severity=result.severity or rule.severity, opened_at=at, value=outcome.value,
                threshold=outcome.threshold)
        incident = instance.incident
        if incident is not None and result.severity and incident.severity != result.severity and \
                result.notify == "trigger":
            incident.severity = result.severity  # escalated
            incident.save(update_fields=["severity"])
        muted = any(s.matches(rule.id, instance.group) for s in silences)
        event = StateEvent.objects.create(
            rule=rule, instance=instance, incident=incident, at=at, from_state=instance.state, to_state=result.state,
            severity=result.severity, value=outcome.value, threshold=outcome.threshold,
            window_seconds=rule.window_seconds, muted=muted, note=(result.note or outcome.note)[:300])
        if result.state != instance.state:
            instance.since = at
        instance.state, instance.severity = result.state, result.severity
        if result.close_incident and incident is not None:
            incident.resolved_at = at
            incident.save(update_fields=["resolved_at"])
            instance.incident = None
        if result.notify:
            if not muted:
                instance.last_notified_at = at
            transition = Transition(rule=rule, instance=instance, incident=incident, event=event,
                                    kind=result.notify, muted=muted)
            for name in rule.actions:
                action = ACTIONS.get(name)
                if action is not None:
                    action(transition)
    instance.save()
    return event
