"""Backtest: "would have fired N times" over recent history, with the rule's own metric source,
condition and state machine (the code the evaluation runs), sampled every max(window, 1 h) so a
7-day backtest is at most 168 reads. Writes nothing."""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone

from alerts.conditions import Outcome, Values, condition_for
from alerts.models import Rule, RuleInstance
from alerts.registry import METRIC_SOURCES, GroupValue, Window
from alerts.state import Current, Timing, step

HOUR = timedelta(hours=1)


@dataclass
class Backtest:
    start: datetime
    end: datetime
    step: timedelta
    evaluations: int
    fired: int  # incidents that would have opened
    groups: dict[str, int] = field(default_factory=dict)  # group label → incidents
    error: str = ""


def rule_backtest(*, rule: Rule, days: int = 7, now: datetime | None = None) -> Backtest:
    end = (now or datetime.now(timezone.utc)).replace(second=0, microsecond=0)
    size = max(timedelta(seconds=rule.window_seconds), HOUR)
    start = end - timedelta(days=days)
    result = Backtest(start=start, end=end, step=size, evaluations=0, fired=0)
    try:
        source = METRIC_SOURCES[rule.source]
        condition = condition_for(rule.condition, rule.condition_config)
    except (KeyError, ValueError) as exc:
        result.error = str(exc)
        return result
    timing = Timing(rule.pending_seconds, 0, rule.no_data_policy, rule.severity)
    states: dict[tuple[str, ...], Current] = {}
    at = start + size
    while at <= end:
        window = Window(at - size, at)
        current = source.read(rule, window)
        baselines = [source.read(rule, w) for w in condition.baselines(window)]
        result.evaluations += 1
        keys = set(current.groups if condition.reads_current else {k for b in baselines for k in b.groups}) | set(states)
        for key in keys:
            value = current.groups.get(key, GroupValue(None, 0))
            if condition.reads_current and (value.value is None or value.count < max(rule.min_count, 1)):
                outcome = Outcome("no_data")
            else:
                cur = states.get(key)
                outcome = condition.evaluate(Values(value, [b.groups.get(key) for b in baselines],
                                                    rule.recovery_hysteresis,
                                                    cur.severity if cur and cur.state == "firing" else ""))
            cur = states.get(key) or Current("ok", "", at, None, False)
            moved = step(cur, outcome, timing, at)
            if moved.open_incident:
                result.fired += 1
                label = RuleInstance(group=dict(zip(rule.group_by, key, strict=False))).group_label
                result.groups[label] = result.groups.get(label, 0) + 1
            has_incident = (cur.has_incident or moved.open_incident) and not moved.close_incident
            states[key] = Current(moved.state, moved.severity, at if moved.state != cur.state else cur.since, None,
                                  has_incident)
        at += size
    return result
