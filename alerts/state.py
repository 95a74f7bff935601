"""The state machine of one rule instance, as a pure function: (state, outcome, timing) → step.

ok → pending (breach, while the pending period runs) → firing (incident opened, trigger sent)
→ resolved (recovered past the hysteresis: incident closed, resolve sent) → pending/firing again.
no_data follows the rule's policy (ok: record it and close any incident; alert: open an incident;
keep: change nothing); error records that the metric could not be read, leaving incidents alone.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from alerts.conditions import Outcome

ESCALATION = {"": 0, "warning": 1, "critical": 2}


@dataclass(frozen=True)
class Current:
    state: str
    severity: str
    since: datetime
    last_notified_at: datetime | None
    has_incident: bool


@dataclass(frozen=True)
class Timing:
    pending_seconds: int
    renotify_seconds: int
    no_data_policy: str
    severity: str  # the rule's, for no-data alerts


@dataclass(frozen=True)
class Step:
    state: str
    severity: str
    changed: bool  # a StateEvent is written (state or severity changed, or a reminder went out)
    open_incident: bool = False
    close_incident: bool = False
    notify: str = ""  # "trigger" or "resolve"
    note: str = ""


def _stay(cur: Current) -> Step:
    return Step(cur.state, cur.severity, changed=False)


def _reminder(cur: Current, timing: Timing, now: datetime) -> Step:
    if timing.renotify_seconds and cur.last_notified_at is not None and \
            now - cur.last_notified_at >= timedelta(seconds=timing.renotify_seconds):
        return Step(cur.state, cur.severity, changed=True, notify="trigger", note="still firing (reminder)")
    return _stay(cur)


def _fire(cur: Current, severity: str, note: str = "") -> Step:
    if cur.has_incident:  # e.g. a no-data incident that now breaches: same episode, no second page
        return Step("firing", severity, changed=True, note=note or "breaching")
    return Step("firing", severity, changed=True, open_incident=True, notify="trigger", note=note)


def _recover(cur: Current, note: str = "") -> Step:
    if cur.has_incident:
        return Step("resolved", "", changed=True, close_incident=True, notify="resolve", note=note)
    if cur.state in ("ok", "resolved"):
        return _stay(cur)
    return Step("ok", "", changed=True, note=note)


def step(cur: Current, outcome: Outcome, timing: Timing, now: datetime) -> Step:
    if outcome.status == "error":
        return _stay(cur) if cur.state == "error" else Step("error", cur.severity, changed=True, note=outcome.note)
    if outcome.status == "no_data":
        if timing.no_data_policy == "keep":
            return _stay(cur)
        if timing.no_data_policy == "alert":
            if cur.state == "no_data":
                return _reminder(cur, timing, now)
            if cur.has_incident:
                return Step("no_data", cur.severity, changed=True, note=outcome.note)
            return Step("no_data", timing.severity, changed=True, open_incident=True, notify="trigger",
                        note=outcome.note)
        if cur.state == "no_data":
            return _stay(cur)
        if cur.has_incident:
            return Step("no_data", "", changed=True, close_incident=True, notify="resolve", note=outcome.note)
        return Step("no_data", "", changed=True, note=outcome.note)
    if outcome.status == "breach":
        if cur.state == "firing":
            if outcome.severity != cur.severity:
                worse = ESCALATION[outcome.severity] > ESCALATION[cur.severity]
                return Step("firing", outcome.severity, changed=True, notify="trigger" if worse else "",
                            note="escalated" if worse else "de-escalated")
            return _reminder(cur, timing, now)
        if cur.state == "pending":
            if now - cur.since >= timedelta(seconds=timing.pending_seconds):
                return _fire(cur, outcome.severity)
            return Step("pending", outcome.severity, changed=outcome.severity != cur.severity)
        if timing.pending_seconds == 0:
            return _fire(cur, outcome.severity)
        return Step("pending", outcome.severity, changed=True)
    if outcome.status == "hold" and cur.state == "firing":
        return _reminder(cur, timing, now)
    return _recover(cur, outcome.note)
