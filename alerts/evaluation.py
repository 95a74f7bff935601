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
from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any

from django.db import connection, transaction

from alerts.conditions import Outcome, Values, condition_for
from alerts.models import Incident, Rule, RuleInstance, Silence, State, StateEvent
from alerts.registry import ACTIONS, METRIC_SOURCES, GroupValue, Reading, RuleInvalid, Transition, Window
from alerts.state import Current, Step, Timing, step

log = logging.getLogger(__name__)
MINUTE = timedelta(minutes=1)
# Rules claimed and read together: rules of a claim asking the same rollup question share one query
# (alerts/sources.py: a 1,000-rule tick asks ~85 questions), so bigger claims read less. They are
# then written WRITE_BATCH at a time, one transaction each, so the first outbox rows commit (and
# go out) before the whole tick is done.
CLAIM_BATCH = 1000
WRITE_BATCH = 100
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
        rules = list(Rule.objects.filter(id__in=ids).select_related("project"))
        try:
            reads = _read_all(rules, at)
        except Exception:  # a source failing as a whole: its rules read one by one
            log.exception("alerts: reading %d rules at once failed", len(rules))
            reads = {}
        for i in range(0, len(rules), WRITE_BATCH):
            try:
                rules_evaluate(rules=rules[i:i + WRITE_BATCH], at=at, reads=reads)
            except Exception:  # one chunk failing must not stop the others; its rules come back next minute
                log.exception("alerts: evaluating rules %s failed", [r.id for r in rules[i:i + WRITE_BATCH]])
        done += len(rules)
    return done


@dataclass
class _Read:
    current: Reading
    baselines: list[Reading]


_Planned = tuple[_Read | None, str, Any]  # (the readings, or None with the error; the condition)


def window_at(rule: Rule, at: datetime) -> Window:
    """The rule's window evaluated in the minute `at`: it ends with that minute, so the calls of
    the minute in progress count (a burst folded a second before the tick is seen by it, not a
    minute later)."""
    end = at + MINUTE
    return Window(end - timedelta(seconds=rule.window_seconds), end)


def _failed(exc: Exception) -> _Planned:
    return None, f"{type(exc).__name__}: {exc}"[:300], None


def _read(rule: Rule, at: datetime) -> _Planned:
    return _read_all([rule], at)[rule.id]


def _read_all(rules: list[Rule], at: datetime) -> dict[int, _Planned]:
    """Every rule's windows, read together per metric source: a source with `read_many` (the
    rollups) answers rules asking the same question with one query (alerts/sources.py)."""
    out: dict[int, _Planned] = {}
    plans: dict[str, list[tuple[Rule, Any, list[Window]]]] = {}
    for rule in rules:
        try:
            source = METRIC_SOURCES[rule.source]
            condition = condition_for(rule.condition, rule.condition_config)
            window = window_at(rule, at)
            plans.setdefault(rule.source, []).append((rule, condition, [window, *condition.baselines(window)]))
        except (KeyError, RuleInvalid, ValueError) as exc:
            out[rule.id] = _failed(exc)
    for name, planned in plans.items():
        source = METRIC_SOURCES[name]
        requests = [(rule, window) for rule, _, windows in planned for window in windows]
        if hasattr(source, "read_many"):
            results: list[Reading | Exception] = source.read_many(requests)
        else:
            results = []
            for rule, window in requests:
                try:
                    results.append(source.read(rule, window))
                except (KeyError, RuleInvalid, ValueError) as exc:
                    results.append(exc)
        position = 0
        for rule, condition, windows in planned:
            readings = results[position:position + len(windows)]
            position += len(windows)
            error = next((r for r in readings if isinstance(r, Exception)), None)
            out[rule.id] = _failed(error) if error is not None else (
                _Read(readings[0], readings[1:]), "", condition)  # type: ignore[arg-type]
    return out


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


def rule_evaluate(*, rule: Rule, at: datetime, planned: _Planned | None = None) -> list[StateEvent]:
    """Evaluate one rule for the minute `at` (with its windows already read by `_read_all`, or read
    now); returns the state events written."""
    return rules_evaluate(rules=[rule], at=at, reads={rule.id: planned} if planned else None)


def rules_evaluate(*, rules: list[Rule], at: datetime, reads: dict[int, _Planned] | None = None) -> list[StateEvent]:
    """Evaluate rules for the minute `at` in one transaction: one commit and a handful of queries
    for them all, not per rule; a rule writes rows of its own only when an instance moves.
    Rules already evaluated for `at` are skipped; a rule whose writes fail is rolled back alone (a
    savepoint), logged, and evaluated again next minute. Returns the state events written."""
    if not rules:
        return []
    reads = dict(reads) if reads is not None else _read_all(rules, at)
    for rule in rules:
        if rule.id not in reads:  # outside the transaction: a failed read must not abort it
            try:
                reads[rule.id] = _read(rule, at)
            except Exception as exc:  # noqa: BLE001 - the rule's error, shown on its page
                log.exception("alerts: reading rule %s failed", rule.id)
                reads[rule.id] = _failed(exc)
    ids = sorted(r.id for r in rules)
    events: list[StateEvent] = []
    with transaction.atomic():
        with connection.cursor() as cur:
            # In id order, so two evaluations of overlapping rules cannot deadlock.
            cur.execute("SELECT pg_advisory_xact_lock(%s, id) FROM (SELECT unnest(%s::int4[]) AS id ORDER BY 1) ids",
                        [_LOCK_NAMESPACE, ids])
        done = set(Rule.objects.filter(id__in=ids, last_evaluated_at__gte=at).values_list("id", flat=True))
        todo = [r for r in rules if r.id not in done]  # the others: another tick or worker evaluated this minute
        instances: dict[int, dict[str, RuleInstance]] = defaultdict(dict)
        for instance in RuleInstance.objects.select_for_update().filter(rule_id__in=[r.id for r in todo]):
            instances[instance.rule_id][instance.group_key] = instance
        silences = list(Silence.objects.filter(project_id__in={r.project_id for r in todo}, starts_at__lte=at,
                                               ends_at__gt=at))
        quiet: list[RuleInstance] = []  # instances that stay as they are: only their last value is written
        evaluated: dict[str, list[int]] = defaultdict(list)  # last_error → rules
        for rule in todo:
            read, error, condition = reads[rule.id]
            try:
                moves = _moves(rule, read, error, condition, instances[rule.id], at, quiet)
                written: list[StateEvent] = []
                if moves:
                    with transaction.atomic():
                        rule_silences = [s for s in silences if s.project_id == rule.project_id]
                        for instance, outcome, result in moves:
                            if event := _apply(rule, instance, outcome, result, at, rule_silences):
                                written.append(event)
            except Exception:  # one broken rule must not undo the others; it is evaluated again next minute
                log.exception("alerts: evaluating rule %s failed", rule.id)
                continue
            events.extend(written)
            evaluated[error].append(rule.id)
        if quiet:  # one UPDATE from two arrays: bulk_update's CASE per row cost ~2 s of CPU for 1,000 rows
            with connection.cursor() as cur:
                cur.execute("UPDATE alerts_ruleinstance i SET last_evaluated_at = %s, last_value = v.value"
                            " FROM unnest(%s::int8[], %s::float8[]) AS v(id, value) WHERE i.id = v.id",
                            [at, [i.pk for i in quiet], [i.last_value for i in quiet]])
        for error, rule_ids in evaluated.items():
            Rule.objects.filter(pk__in=rule_ids).update(last_evaluated_at=at, last_error=error)
    return events


def _moves(rule: Rule, read: _Read | None, error: str, condition: Any, instances: dict[str, RuleInstance],
           at: datetime, quiet: list[RuleInstance]) -> list[tuple[RuleInstance, Outcome, Step]]:
    """The rule's outcome per group and the state machine's step for each: instances that move (or
    are new: a group gets an instance when it first breaches, not one per value ever seen) are
    returned; the others get their last value set and are added to `quiet`."""
    group_dims = list(rule.group_by)
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
    timing = Timing(rule.pending_seconds, rule.renotify_seconds, rule.no_data_policy, rule.severity)
    moves = []
    for group_key, key in keys.items():
        instance = instances.get(group_key)
        firing = instance.severity if instance is not None and instance.state == State.FIRING else ""
        outcome = Outcome("error", note=error) if read is None else _outcome(rule, condition, read, key, firing)
        if instance is None:
            if outcome.status != "breach":
                continue
            instance = RuleInstance(rule=rule, group_key=group_key, group=dict(zip(group_dims, key, strict=True)),
                                    state=State.OK, since=at)
        result = step(Current(instance.state, instance.severity, instance.since, instance.last_notified_at,
                              has_incident=instance.incident_id is not None), outcome, timing, at)
        instance.last_evaluated_at = at
        if outcome.value is not None:
            instance.last_value = outcome.value
        if result.changed or instance.pk is None:
            moves.append((instance, outcome, result))
        else:
            quiet.append(instance)
    return moves


def _apply(rule: Rule, instance: RuleInstance, outcome: Outcome, result: Step, at: datetime,
           silences: list[Silence]) -> StateEvent | None:
    if instance.pk is None:
        instance.save()
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
