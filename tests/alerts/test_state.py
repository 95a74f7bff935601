"""The instance state machine, transition by transition (a pure function: no database)."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from alerts.conditions import Outcome
from alerts.state import Current, Timing, step

T0 = datetime(2026, 12, 1, 10, 0, tzinfo=timezone.utc)
MIN = timedelta(minutes=1)
BREACH = Outcome("breach", "critical", 5.0, 1.0)
WARN = Outcome("breach", "warning", 2.0, 1.5)
CLEAR = Outcome("clear", "", 0.5, 1.0)
HOLD = Outcome("hold", "critical", 0.95, 1.0)
NO_DATA = Outcome("no_data", note="not enough data")
ERROR = Outcome("error", note="boom")


def cur(state: str = "ok", severity: str = "", since: datetime = T0, notified: datetime | None = None,
        incident: bool = False) -> Current:
    return Current(state, severity, since, notified, incident)


def timing(pending: int = 0, renotify: int = 0, no_data: str = "ok") -> Timing:
    return Timing(pending, renotify, no_data, "critical")


def test_ok_breach_fires_at_once_without_a_pending_period() -> None:
    s = step(cur(), BREACH, timing(), T0)
    assert (s.state, s.severity, s.open_incident, s.notify) == ("firing", "critical", True, "trigger")


def test_pending_period_goes_through_pending_then_fires() -> None:
    s = step(cur(), BREACH, timing(pending=120), T0)
    assert (s.state, s.notify, s.open_incident) == ("pending", "", False)
    assert not step(cur("pending", "critical", since=T0), BREACH, timing(pending=120), T0 + MIN).changed
    s = step(cur("pending", "critical", since=T0), BREACH, timing(pending=120), T0 + 2 * MIN)
    assert (s.state, s.notify) == ("firing", "trigger")


def test_a_clear_value_while_pending_goes_back_to_ok_silently() -> None:
    s = step(cur("pending", "critical"), CLEAR, timing(pending=120), T0 + MIN)
    assert (s.state, s.notify, s.changed) == ("ok", "", True)


def test_firing_recovers_to_resolved_with_a_resolve_notification() -> None:
    s = step(cur("firing", "critical", incident=True), CLEAR, timing(), T0)
    assert (s.state, s.close_incident, s.notify) == ("resolved", True, "resolve")


def test_inside_the_hysteresis_band_it_keeps_firing() -> None:
    assert not step(cur("firing", "critical", incident=True), HOLD, timing(), T0).changed


def test_escalation_notifies_and_de_escalation_does_not() -> None:
    up = step(cur("firing", "warning", incident=True), BREACH, timing(), T0)
    assert (up.severity, up.notify) == ("critical", "trigger")
    down = step(cur("firing", "critical", incident=True), WARN, timing(), T0)
    assert (down.severity, down.notify, down.changed) == ("warning", "", True)


def test_renotify_reminds_after_the_interval_only() -> None:
    firing = cur("firing", "critical", notified=T0, incident=True)
    assert not step(firing, BREACH, timing(renotify=600), T0 + 5 * MIN).changed
    s = step(firing, BREACH, timing(renotify=600), T0 + 10 * MIN)
    assert (s.notify, s.state) == ("trigger", "firing")
    assert not step(firing, BREACH, timing(renotify=0), T0 + 60 * MIN).changed


@pytest.mark.parametrize("policy, expected", [("ok", ("no_data", False, "")), ("alert", ("no_data", True, "trigger")),
                                              ("keep", ("ok", False, ""))])
def test_no_data_follows_the_policy(policy: str, expected: tuple[str, bool, str]) -> None:
    s = step(cur(), NO_DATA, timing(no_data=policy), T0)
    assert (s.state, s.open_incident, s.notify) == expected


def test_no_data_with_policy_ok_closes_a_firing_incident() -> None:
    s = step(cur("firing", "critical", incident=True), NO_DATA, timing(no_data="ok"), T0)
    assert (s.state, s.close_incident, s.notify) == ("no_data", True, "resolve")


def test_error_is_recorded_once_and_leaves_the_incident_open() -> None:
    s = step(cur("firing", "critical", incident=True), ERROR, timing(), T0)
    assert (s.state, s.close_incident, s.notify) == ("error", False, "")
    assert not step(cur("error", "critical", incident=True), ERROR, timing(), T0).changed
    # The metric readable again and still breaching: back to firing, no second page.
    s = step(cur("error", "critical", incident=True), BREACH, timing(), T0)
    assert (s.state, s.open_incident, s.notify) == ("firing", False, "")


def test_resolved_breaching_again_opens_a_new_incident() -> None:
    s = step(cur("resolved"), BREACH, timing(), T0)
    assert (s.state, s.open_incident, s.notify) == ("firing", True, "trigger")
