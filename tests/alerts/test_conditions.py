"""Conditions: typed configs (a wrong type names the field), levels and hysteresis, baselines,
the robust z-score; and on synthetic rollups through the real metric source."""
from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from alerts.conditions import Change, Threshold, Values, ZScore, condition_for
from alerts.evaluation import rule_evaluate
from alerts.models import RuleInstance, StateEvent
from alerts.registry import GroupValue, RuleInvalid, Window
from tests.alerts.conftest import at_minute, calls, ingest, make_rule
from tests.conftest import Api


def v(value: float | None, count: int = 100, baselines: list[float | None] | None = None, firing: str = "",
      hysteresis: float = 0.0) -> Values:
    return Values(GroupValue(value, count),
                  [None if b is None else GroupValue(b, 100) for b in (baselines or [])], hysteresis, firing)


def test_threshold_above_with_warning_and_critical() -> None:
    c = Threshold({"op": "above", "warning": 1000, "critical": 2000})
    assert c.evaluate(v(2500)).severity == "critical"
    out = c.evaluate(v(1500))
    assert (out.status, out.severity, out.threshold) == ("breach", "warning", 1000)
    assert c.evaluate(v(500)).status == "clear"


def test_threshold_below_for_a_quality_score() -> None:
    c = Threshold({"op": "below", "critical": 0.8})
    assert c.evaluate(v(0.75)).status == "breach"
    assert c.evaluate(v(0.85)).status == "clear"


def test_hysteresis_holds_a_firing_instance_near_the_level() -> None:
    c = Threshold({"op": "above", "critical": 1000})
    assert c.evaluate(v(950, firing="critical", hysteresis=100)).status == "hold"
    assert c.evaluate(v(850, firing="critical", hysteresis=100)).status == "clear"
    assert c.evaluate(v(950, hysteresis=100)).status == "clear"  # not firing: the band does not matter


@pytest.mark.parametrize("config, field", [
    ({"op": "above", "critical": "high"}, "condition_config.critical"),
    ({"op": "above", "critical": True}, "condition_config.critical"),
    ({"op": "sideways", "critical": 1}, "condition_config.op"),
    ({"op": "above"}, "condition_config.critical"),
    ({"op": "above", "critical": 1, "warning": 2}, "condition_config.warning"),
])
def test_a_bad_threshold_config_names_the_field(config: dict[str, Any], field: str) -> None:
    with pytest.raises(RuleInvalid) as caught:
        condition_for("threshold", config)
    assert caught.value.field == field


def test_change_relative_against_the_previous_window() -> None:
    c = Change({"baseline": "previous_window", "mode": "relative", "direction": "up", "critical": 0.5})
    window = Window(at_minute(0) - timedelta(hours=1), at_minute(0))
    assert c.baselines(window) == [Window(window.start - timedelta(hours=1), window.start)]
    assert c.evaluate(v(160, baselines=[100])).status == "breach"
    assert c.evaluate(v(140, baselines=[100])).status == "clear"
    assert c.evaluate(v(160, baselines=[None])).status == "no_data"
    assert c.evaluate(v(160, baselines=[0])).status == "no_data"


def test_change_down_absolute_and_week_ago() -> None:
    c = Change({"baseline": "week_ago", "mode": "absolute", "direction": "down", "critical": 0.1})
    window = Window(at_minute(0) - timedelta(hours=1), at_minute(0))
    assert c.baselines(window)[0].end == window.end - timedelta(weeks=1)
    assert c.evaluate(v(0.7, baselines=[0.85])).status == "breach"
    assert c.evaluate(v(0.8, baselines=[0.85])).status == "clear"


def test_change_needs_its_minimum_baseline_count() -> None:
    c = Change({"critical": 0.5, "min_baseline_count": 500})
    assert c.evaluate(v(200, baselines=[100])).status == "no_data"


def test_zscore_against_the_same_hour_of_past_weeks() -> None:
    c = ZScore({"weeks": 4, "critical": 3, "direction": "up"})
    history = [100, 104, 98, 101]
    out = c.evaluate(v(160, baselines=history))
    assert out.status == "breach" and out.value > 3
    assert c.evaluate(v(103, baselines=history)).status == "clear"
    assert c.evaluate(v(160, baselines=[100, None, None, None])).status == "no_data"


def test_zscore_floor_keeps_a_flat_history_from_exploding() -> None:
    c = ZScore({"weeks": 3, "critical": 3, "relative_floor": 0.05})
    # MAD is 0; the floor is 5% of the median (5): 103 is z=0.6, not infinite.
    assert c.evaluate(v(103, baselines=[100, 100, 100])).status == "clear"
    assert c.evaluate(v(120, baselines=[100, 100, 100])).status == "breach"


@pytest.mark.django_db
def test_error_rate_threshold_on_rollups(api: Api, project: Any, prices: None) -> None:
    start = at_minute(-3)
    ingest(api, project, calls(8, latency=100, start=start, prefix="ok")
           + calls(4, latency=100, start=start, prefix="err", status="error", error={"type": "Timeout"}))
    rule = make_rule(project, measure="error_rate", condition_config={"op": "above", "critical": 0.2})
    rule_evaluate(rule=rule, at=at_minute(1))
    instance = RuleInstance.objects.get(rule=rule)
    assert instance.state == "firing" and instance.last_value == pytest.approx(4 / 12)


@pytest.mark.django_db
def test_change_on_rollups_compares_with_the_previous_window(api: Api, project: Any, prices: None) -> None:
    now = at_minute(0)
    ingest(api, project, calls(10, latency=100, start=now - timedelta(minutes=17), prefix="before", spread_seconds=300)
           + calls(30, latency=100, start=now - timedelta(minutes=8), prefix="after", spread_seconds=300))
    rule = make_rule(project, measure="count", window_seconds=600, min_count=1, condition="change",
                     condition_config={"baseline": "previous_window", "mode": "relative", "critical": 1.0})
    rule_evaluate(rule=rule, at=now + timedelta(minutes=1))
    event = StateEvent.objects.get(rule=rule)
    assert event.to_state == "firing" and event.value == pytest.approx(2.0)
