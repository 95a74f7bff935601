"""Conditions: one class per kind, each with a typed config parsed from Rule.condition_config and
`evaluate(values) -> Outcome`. CONDITIONS maps kind → class; burn-rate and budget conditions plug
in here later (docs/alerts.md, "Not yet").
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any, ClassVar

import numpy as np
from scipy.stats import median_abs_deviation

from alerts.registry import GroupValue, RuleInvalid, Window

WEEK = timedelta(weeks=1)


@dataclass
class Values:
    """What a condition sees for one group: the window's value, the baseline windows' values (in
    the order `baselines()` gave them; None where the group had no rows), the rule's recovery
    hysteresis and the severity the instance fires at now ("" when not firing)."""

    current: GroupValue
    baselines: list[GroupValue | None] = field(default_factory=list)
    hysteresis: float = 0.0
    firing: str = ""


@dataclass
class Outcome:
    """status: "breach" (at `severity`), "hold" (inside the hysteresis band: a firing instance keeps
    firing, any other is clear), "clear" or "no_data". `value` is what was compared (the metric,
    the change, or the z-score) and `threshold` the level it was compared with."""

    status: str
    severity: str = ""
    value: float | None = None
    threshold: float | None = None
    note: str = ""


def _number(config: dict[str, Any], name: str, *, required: bool = False, default: float | None = None,
            minimum: float | None = None) -> float | None:
    raw = config.get(name, default)
    if raw is None:
        if required:
            raise RuleInvalid(f"condition_config.{name}", "is required")
        return None
    if isinstance(raw, bool) or not isinstance(raw, (int, float)):
        raise RuleInvalid(f"condition_config.{name}", f"must be a number, not {type(raw).__name__}")
    if not np.isfinite(raw) or (minimum is not None and raw < minimum):
        raise RuleInvalid(f"condition_config.{name}", f"must be a finite number{'' if minimum is None else f' ≥ {minimum}'}")
    return float(raw)


def _choice(config: dict[str, Any], name: str, choices: tuple[str, ...]) -> str:
    raw = config.get(name, choices[0])
    if raw not in choices:
        raise RuleInvalid(f"condition_config.{name}", f"one of {', '.join(choices)}")
    return str(raw)


def _levels(config: dict[str, Any], *, higher_is_worse: bool) -> tuple[float | None, float | None]:
    critical = _number(config, "critical")
    warning = _number(config, "warning")
    if critical is None and warning is None:
        raise RuleInvalid("condition_config.critical", "give a critical level, a warning level or both")
    if critical is not None and warning is not None and (warning >= critical if higher_is_worse else warning <= critical):
        raise RuleInvalid("condition_config.warning", "the warning level must come before the critical level")
    return critical, warning


def compare(x: float, critical: float | None, warning: float | None, *, above: bool, values: Values) -> Outcome:
    """Breach at the worst level crossed; a firing instance recovers only past its lowest level by
    the hysteresis ("hold" in between), so a value hovering at the threshold does not flap."""

    def crossed(level: float | None, margin: float = 0.0) -> bool:
        return level is not None and (x > level - margin if above else x < level + margin)

    if crossed(critical):
        return Outcome("breach", "critical", x, critical)
    if crossed(warning):
        return Outcome("breach", "warning", x, warning)
    lowest = warning if warning is not None else critical
    if values.firing and values.hysteresis and crossed(lowest, values.hysteresis):
        return Outcome("hold", values.firing, x, lowest, "inside the recovery band")
    return Outcome("clear", "", x, critical if critical is not None else warning)


class Condition:
    kind: ClassVar[str]
    label: ClassVar[str]

    def __init__(self, config: dict[str, Any]) -> None:
        if not isinstance(config, dict):
            raise RuleInvalid("condition_config", "must be an object")

    def baselines(self, window: Window) -> list[Window]:
        """Extra windows whose values `evaluate` needs, besides the window itself."""
        return []

    def evaluate(self, values: Values) -> Outcome:
        raise NotImplementedError


class Threshold(Condition):
    """The metric above (or below) a warning and/or critical level."""

    kind, label = "threshold", "Threshold"

    def __init__(self, config: dict[str, Any]) -> None:
        super().__init__(config)
        self.op = _choice(config, "op", ("above", "below"))
        self.critical, self.warning = _levels(config, higher_is_worse=self.op == "above")

    def evaluate(self, values: Values) -> Outcome:
        x = values.current.value
        if x is None:
            return Outcome("no_data", note="no value in the window")
        return compare(x, self.critical, self.warning, above=self.op == "above", values=values)


class Change(Condition):
    """The metric moved against a baseline window: the previous window, or the same window a week
    ago; relative (0.2 = 20%) or absolute, up or down. The baseline needs `min_baseline_count`."""

    kind, label = "change", "Change against a baseline"

    def __init__(self, config: dict[str, Any]) -> None:
        super().__init__(config)
        self.baseline = _choice(config, "baseline", ("previous_window", "week_ago"))
        self.mode = _choice(config, "mode", ("relative", "absolute"))
        self.direction = _choice(config, "direction", ("up", "down"))
        self.critical, self.warning = _levels(config, higher_is_worse=True)
        self.min_baseline_count = int(_number(config, "min_baseline_count", default=1, minimum=0) or 0)

    def baselines(self, window: Window) -> list[Window]:
        if self.baseline == "week_ago":
            return [Window(window.start - WEEK, window.end - WEEK)]
        return [Window(window.start - (window.end - window.start), window.start)]

    def evaluate(self, values: Values) -> Outcome:
        x, base = values.current.value, values.baselines[0] if values.baselines else None
        if x is None:
            return Outcome("no_data", note="no value in the window")
        if base is None or base.value is None or base.count < max(self.min_baseline_count, 1):
            return Outcome("no_data", note="not enough data in the baseline window")
        if self.mode == "relative":
            if base.value == 0:
                return Outcome("no_data", note="the baseline is zero: a relative change is undefined")
            change = (x - base.value) / abs(base.value)
        else:
            change = x - base.value
        if self.direction == "down":
            change = -change
        return compare(change, self.critical, self.warning, above=True, values=values)


class ZScore(Condition):
    """A robust z-score against the same hour of the week over the last N weeks: (x − median) /
    scale, where scale is the MAD scaled to a normal's standard deviation, floored so that a
    flat history (MAD 0) does not turn any wobble into an infinite z. scipy's median_abs_deviation
    (scale="normal") rather than a hand-written MAD: its consistency constant and NaN handling are
    the reviewed ones, and the backtest will reuse it on whole arrays."""

    kind, label = "zscore", "Unusual for the hour of the week (robust z-score)"

    def __init__(self, config: dict[str, Any]) -> None:
        super().__init__(config)
        self.weeks = int(_number(config, "weeks", default=4, minimum=2) or 4)
        if self.weeks > 12:
            raise RuleInvalid("condition_config.weeks", "at most 12 weeks (hourly buckets are kept ~90 days)")
        self.direction = _choice(config, "direction", ("up", "down", "either"))
        self.critical, self.warning = _levels({"critical": 3.0, **config}, higher_is_worse=True)
        self.mad_floor = float(_number(config, "mad_floor", default=0.0, minimum=0) or 0.0)
        self.relative_floor = float(_number(config, "relative_floor", default=0.05, minimum=0) or 0.0)

    def baselines(self, window: Window) -> list[Window]:
        return [Window(window.start - k * WEEK, window.end - k * WEEK) for k in range(1, self.weeks + 1)]

    def evaluate(self, values: Values) -> Outcome:
        x = values.current.value
        if x is None:
            return Outcome("no_data", note="no value in the window")
        history = np.array([b.value for b in values.baselines if b is not None and b.value is not None and b.count],
                           dtype=float)
        if len(history) < max(2, self.weeks // 2):
            return Outcome("no_data", note=f"only {len(history)} of {self.weeks} past weeks have data")
        median = float(np.median(history))
        scale = max(float(median_abs_deviation(history, scale="normal")), self.mad_floor,
                    self.relative_floor * abs(median), 1e-12)
        z = (x - median) / scale
        if self.direction == "down":
            z = -z
        elif self.direction == "either":
            z = abs(z)
        return compare(z, self.critical, self.warning, above=True, values=values)


CONDITIONS: dict[str, type[Condition]] = {c.kind: c for c in (Threshold, Change, ZScore)}


def condition_for(kind: str, config: dict[str, Any]) -> Condition:
    if kind not in CONDITIONS:
        raise RuleInvalid("condition", f"one of {', '.join(CONDITIONS)}")
    return CONDITIONS[kind](config)
