"""Conditions: one class per kind, each with a typed config parsed from Rule.condition_config and
`evaluate(values) -> Outcome`. CONDITIONS maps kind → class: threshold, change against a baseline,
robust z-score, SLO burn rate (error or latency SLOs) and calendar budget (docs/alerts.md).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any, ClassVar

import numpy as np

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
    # False: the rule's own window is not what is judged (burn rates and budgets read their own
    # windows), so its min_count gate does not apply to it.
    reads_current: ClassVar[bool] = True

    def check(self, rule: Any) -> None:
        """Raise RuleInvalid when the condition does not fit the rule (its measure, say)."""

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


# 1 / Φ⁻¹(3/4): the MAD of a normal sample times this estimates its standard deviation.
MAD_NORMAL = 1.482602218505602


def mad_normal(values: np.ndarray) -> float:
    """The median absolute deviation scaled to a normal's standard deviation."""
    return float(np.median(np.abs(values - np.median(values)))) * MAD_NORMAL


class ZScore(Condition):
    """A robust z-score against the same hour of the week over the last N weeks: (x − median) /
    scale, where scale is the MAD scaled to a normal's standard deviation, floored so that a
    flat history (MAD 0) does not turn any wobble into an infinite z. The MAD is two numpy medians
    times the normal consistency constant: scipy's median_abs_deviation(scale="normal") gives the
    same (a test holds them equal) but cost ~3 ms a call in its argument checks, a third of a
    1,000-rule tick, and importing scipy.stats takes seconds in a fresh worker."""

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
        scale = max(mad_normal(history), self.mad_floor, self.relative_floor * abs(median), 1e-12)
        z = (x - median) / scale
        if self.direction == "down":
            z = -z
        elif self.direction == "either":
            z = abs(z)
        return compare(z, self.critical, self.warning, above=True, values=values)


# The multi-window, multi-burn-rate alerts of Google's SRE workbook ("Alerting on SLOs"): page at
# 14.4x over 1 h and 5 min, page at 6x over 6 h and 30 min, ticket at 1x over 3 d and 6 h.
SRE_TIERS = [{"factor": 14.4, "long": 3600, "short": 300, "severity": "critical"},
             {"factor": 6.0, "long": 21600, "short": 1800, "severity": "critical"},
             {"factor": 1.0, "long": 259200, "short": 21600, "severity": "warning"}]
SLO_PERIOD = timedelta(days=30)


class BurnRate(Condition):
    """An SLO on a bad-event ratio (error_rate, flag_rate, thumbs_down_rate, or latency_over_N for a
    latency SLO: "99% of calls under 2 s" is latency_over_2000 with objective 0.99): `objective`
    0.99 means 1% of calls may be bad. The burn rate is the bad ratio / (1 − objective); a tier fires when both
    its long and its short window burn faster than its factor. The value is the 1 h burn rate; the
    note gives the error budget left over the last 30 days. The rule's window is not used."""

    kind, label = "burn_rate", "SLO burn rate (multi-window)"
    reads_current = False

    def __init__(self, config: dict[str, Any]) -> None:
        super().__init__(config)
        objective = _number(config, "objective", required=True)
        if objective is None or not 0.5 <= objective < 1:
            raise RuleInvalid("condition_config.objective", "a fraction such as 0.99 (between 0.5 and 1)")
        self.objective = objective
        tiers = config.get("tiers", SRE_TIERS)
        if not isinstance(tiers, list) or not 1 <= len(tiers) <= 5 or not all(isinstance(t, dict) for t in tiers):
            raise RuleInvalid("condition_config.tiers", "a list of up to 5 {factor, long, short, severity}")
        self.tiers = []
        for tier in tiers:
            factor = _number(tier, "factor", required=True, minimum=0)
            long_s, short_s = _number(tier, "long", required=True, minimum=60), _number(tier, "short", required=True,
                                                                                       minimum=60)
            if tier.get("severity", "critical") not in ("warning", "critical") or (short_s or 0) > (long_s or 0) \
                    or (long_s or 0) > 30 * 86400:
                raise RuleInvalid("condition_config.tiers", "severity warning or critical; short ≤ long ≤ 30 days")
            self.tiers.append((float(factor or 0), int(long_s or 0), int(short_s or 0), tier.get("severity", "critical")))

    def check(self, rule: Any) -> None:
        from rollups.selectors.slo import OVER_MEASURE

        if not str(rule.measure).endswith("_rate") and not OVER_MEASURE.match(str(rule.measure)):
            raise RuleInvalid("measure", "a burn rate needs a bad-event ratio: error_rate, flag_rate, "
                                         "thumbs_down_rate, or latency_over_N (the share of calls slower than N ms)")

    def baselines(self, window: Window) -> list[Window]:
        end = window.end
        spans = [s for factor, long_s, short_s, _ in self.tiers for s in (long_s, short_s)]
        return [Window(end - timedelta(seconds=s), end) for s in spans] + [Window(end - SLO_PERIOD, end)]

    def evaluate(self, values: Values) -> Outcome:
        budget = 1 - self.objective
        burns = [None if v is None or v.value is None or not v.count else v.value / budget for v in values.baselines]
        period = burns[-1]
        note = f"error budget left (30 d): {max(0.0, 1 - period) * 100:.0f}%" if period is not None else ""
        if all(b is None for b in burns[:-1]):
            return Outcome("no_data", note="no calls in the burn-rate windows")
        for i, (factor, _, _, severity) in enumerate(self.tiers):
            long_burn, short_burn = burns[2 * i], burns[2 * i + 1]
            if long_burn is not None and short_burn is not None and long_burn > factor and short_burn > factor:
                return Outcome("breach", severity, long_burn, factor, note)
        first = burns[0]
        return Outcome("clear", "", first, self.tiers[0][0], note)


class Budget(Condition):
    """Spending against a budget per calendar day or month (UTC): the value is the share spent so
    far (1.0 = the whole budget). Tiers below 1 warn, tiers at or above 1 are critical. With
    `forecast`, a linear projection to the end of the period (spent ÷ elapsed share of the period,
    once 10% of it has elapsed) that crosses the budget warns before the money is spent."""

    kind, label = "budget", "Budget (calendar day or month)"
    reads_current = False

    def __init__(self, config: dict[str, Any]) -> None:
        super().__init__(config)
        self.period = _choice(config, "period", ("month", "day"))
        amount = _number(config, "amount", required=True, minimum=0)
        if not amount:
            raise RuleInvalid("condition_config.amount", "a budget above 0, in the measure's unit (USD for cost)")
        self.amount = amount
        tiers = config.get("tiers", [0.8, 1.0])
        if not isinstance(tiers, list) or not 1 <= len(tiers) <= 6 or any(
                isinstance(t, bool) or not isinstance(t, (int, float)) or not 0 < t <= 10 for t in tiers):
            raise RuleInvalid("condition_config.tiers", "a list of fractions of the budget, e.g. [0.5, 0.8, 1, 1.2]")
        self.tiers = sorted(float(t) for t in tiers)
        self.forecast = bool(config.get("forecast", True))
        self.bounds: tuple[datetime, datetime, datetime] | None = None

    def check(self, rule: Any) -> None:
        if rule.measure not in ("cost", "count", "tokens_total", "tokens_input", "tokens_output", "errors"):
            raise RuleInvalid("measure", "a budget adds up a sum: cost, count, errors or tokens_*")

    def period_bounds(self, at: datetime) -> tuple[datetime, datetime]:
        day = at.astimezone(timezone.utc).replace(hour=0, minute=0, second=0, microsecond=0)
        if self.period == "day":
            return day, day + timedelta(days=1)
        start = day.replace(day=1)
        return start, (start + timedelta(days=32)).replace(day=1)

    def baselines(self, window: Window) -> list[Window]:
        start, end = self.period_bounds(window.end)
        self.bounds = (start, end, window.end)
        return [Window(start, window.end)]

    def evaluate(self, values: Values) -> Outcome:
        spent = values.baselines[0] if values.baselines else None
        share = (spent.value or 0.0) / self.amount if spent is not None else 0.0
        crossed = [t for t in self.tiers if share >= t]
        if crossed:
            level = crossed[-1]
            return Outcome("breach", "critical" if level >= 1 else "warning", share, level,
                           f"{share * 100:.0f}% of the {self.period}'s budget spent")
        if self.forecast and self.bounds is not None:
            start, end, at = self.bounds
            elapsed = (at - start) / (end - start)
            if elapsed >= 0.1 and share / elapsed >= 1:
                return Outcome("breach", "warning", share, 1.0,
                               f"forecast: {share / elapsed * 100:.0f}% of the budget by the end of the {self.period}")
        return Outcome("clear", "", share, self.tiers[0])


CONDITIONS: dict[str, type[Condition]] = {c.kind: c for c in (Threshold, Change, ZScore, BurnRate, Budget)}


def condition_for(kind: str, config: dict[str, Any]) -> Condition:
    if kind not in CONDITIONS:
        raise RuleInvalid("condition", f"one of {', '.join(CONDITIONS)}")
    return CONDITIONS[kind](config)
