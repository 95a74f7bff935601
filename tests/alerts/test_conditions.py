"""Conditions: typed configs (a wrong type names the field), levels and hysteresis, baselines,
the robust z-score; and on synthetic rollups through the real metric source."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

import pytest

from alerts.conditions import Budget, BurnRate, Change, Threshold, Values, ZScore, condition_for
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


def test_burn_rate_pages_when_both_windows_of_a_tier_burn_fast() -> None:
    c = BurnRate({"objective": 0.99})
    windows = c.baselines(Window(at_minute(0) - timedelta(hours=1), at_minute(0)))
    assert [int((w.end - w.start).total_seconds()) for w in windows] == [3600, 300, 21600, 1800, 259200, 21600,
                                                                          30 * 86400]
    # 20% errors in the last hour and 5 min: 20x the 1% budget, past 14.4x: page.
    out = c.evaluate(v(None, baselines=[0.2, 0.2, 0.02, 0.02, 0.011, 0.011, 0.005]))
    assert (out.status, out.severity, out.threshold) == ("breach", "critical", 14.4)
    assert out.value == pytest.approx(20) and "error budget left (30 d): 50%" in out.note
    # The hour burned fast but the last 5 minutes are fine: recovered, no page (the short window's job).
    assert c.evaluate(v(None, baselines=[0.2, 0.001, 0.02, 0.001, 0.005, 0.001, 0.005])).status == "clear"
    # A slow, steady burn over 3 days and 6 hours: a ticket (warning).
    out = c.evaluate(v(None, baselines=[0.012, 0.012, 0.012, 0.012, 0.012, 0.012, 0.012]))
    assert (out.status, out.severity, out.threshold) == ("breach", "warning", 1.0)


def test_burn_rate_needs_a_ratio_measure_and_an_objective() -> None:
    with pytest.raises(RuleInvalid) as caught:
        condition_for("burn_rate", {"objective": 99})
    assert caught.value.field == "condition_config.objective"

    class _Rule:
        measure = "latency_p95"

    with pytest.raises(RuleInvalid) as caught:
        BurnRate({"objective": 0.99}).check(_Rule())
    assert caught.value.field == "measure"


def test_budget_tiers_and_the_month_end_forecast_on_a_synthetic_month() -> None:
    c = Budget({"period": "month", "amount": 1000, "tiers": [0.5, 0.8, 1.0, 1.2]})
    at = datetime(2026, 11, 10, 12, 0, tzinfo=timezone.utc)  # 9.5 of November's 30 days: 31.7% elapsed
    (spent_window,) = c.baselines(Window(at - timedelta(hours=1), at))
    assert spent_window == Window(datetime(2026, 11, 1, tzinfo=timezone.utc), at)
    out = c.evaluate(v(None, baselines=[400]))  # 40% spent; projected 126%: warn before the money is spent
    assert (out.status, out.severity, out.threshold) == ("breach", "warning", 1.0) and "forecast: 126%" in out.note
    assert c.evaluate(v(None, baselines=[250])).status == "clear"  # projected 79%
    assert c.evaluate(v(None, baselines=[550])).severity == "warning"  # past the 50% tier
    out = c.evaluate(v(None, baselines=[1250]))
    assert (out.severity, out.threshold) == ("critical", 1.2)
    early = Budget({"period": "day", "amount": 10})
    early.baselines(Window(at.replace(hour=1) - timedelta(hours=1), at.replace(hour=1)))  # 1 h into the day
    assert early.evaluate(v(None, baselines=[1])).status == "clear"  # under 10% elapsed: no forecast yet


@pytest.mark.django_db
def test_a_cost_budget_on_rollups_fires_per_model(api: Api, project: Any, prices: None) -> None:
    now = at_minute(0)
    start = max(now - timedelta(minutes=30), now.replace(hour=0, minute=0))  # today (UTC), even just past midnight
    ingest(api, project, calls(5, latency=100, start=start, prefix="pricey", model="m1", cost_usd=3.0)
           + calls(5, latency=100, start=start, prefix="cheap", model="m2", cost_usd=0.1))
    rule = make_rule(project, measure="cost", group_by=["model"], condition="budget", min_count=1,
                     condition_config={"period": "day", "amount": 10, "tiers": [1.0], "forecast": False})
    rule_evaluate(rule=rule, at=now + timedelta(minutes=1))
    states = {i.group["model"]: (i.state, round(i.last_value, 3)) for i in RuleInstance.objects.filter(rule=rule)}
    assert states == {"m1": ("firing", 1.5)}


@pytest.mark.django_db
def test_a_user_over_50_dollars_this_month(api: Api, project: Any, prices: None) -> None:
    now = at_minute(0)
    start = max(now - timedelta(minutes=30), now.replace(hour=0, minute=0))
    ingest(api, project, calls(3, latency=100, start=start, prefix="big", user_id="whale", cost_usd=20.0)
           + calls(3, latency=100, start=start, prefix="small", user_id="minnow", cost_usd=1.0))
    rule = make_rule(project, source="users", measure="cost", group_by=["user"], window_seconds=86400, min_count=1,
                     condition="budget", condition_config={"period": "month", "amount": 50, "tiers": [1.0],
                                                           "forecast": False})
    rule_evaluate(rule=rule, at=now + timedelta(minutes=1))
    firing = {i.group["user"]: i.last_value for i in RuleInstance.objects.filter(rule=rule, state="firing")}
    assert firing == {"whale": pytest.approx(60 / 50)}


@pytest.mark.django_db
def test_per_user_rules_must_group_by_user(project: Any) -> None:
    with pytest.raises(RuleInvalid) as caught:
        make_rule(project, source="users", measure="cost", group_by=["model"], window_seconds=86400)
    assert caught.value.field == "group_by"
