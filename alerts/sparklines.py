"""Sparklines for the alerts page: each rollups rule's measure per hour over the last 24 hours,
over the rule's filters with every group together. Rules sharing a scope (filters, score name,
kind of measure) are read together, all their measures in one rollups.selectors.aggregate call,
so the page costs one read per distinct scope, never one per rule (most rules share the project's
whole scope: one read)."""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from alerts.models import Rule
from alerts.sources import score_name
from rollups.selectors import MetricsError, Query, aggregate, parse_measure

HOURS = 24
STEP = timedelta(hours=1)
# A page with rules over many different filters reads at most this many scopes; rules beyond them
# show no sparkline rather than slowing the page down.
MAX_SCOPES = 12
# Sums are 0 in an hour without rows; rates, averages and percentiles have no value there (a gap).
ZERO_WHEN_EMPTY = {"count", "errors", "tokens_input", "tokens_output", "tokens_cached", "tokens_reasoning",
                   "tokens_total", "cost", "unpriced", "score_count", "flag_count", "flag_evaluated",
                   "feedback_count", "thumbs_up", "thumbs_down", "thumbs_count", "rating_count"}
WIDTH, HEIGHT, PAD = 120.0, 28.0, 2.0


@dataclass
class Sparkline:
    values: list[float | None]  # one per hour, oldest first
    level: float | None  # a threshold rule's critical (else warning) level, drawn as a dashed line
    path: str  # SVG path data in a WIDTH × HEIGHT box (runs of two hours or more)
    level_y: float | None
    label: str  # what a screen reader hears
    dots: list[tuple[float, float]] = field(default_factory=list)  # lone hours (no neighbour to join)

    @property
    def drawn(self) -> bool:
        return bool(self.path or self.dots)

    @property
    def last(self) -> float | None:
        return next((v for v in reversed(self.values) if v is not None), None)


def _scope(rule: Rule) -> tuple[str, str, str]:
    kind, _ = parse_measure(rule.measure)
    family = "feedback" if kind == "feedback" else "quality" if kind in ("score", "flag") else "calls"
    return json.dumps(rule.filters, sort_keys=True), score_name(rule), family


def _level(rule: Rule) -> float | None:
    if rule.condition != "threshold":
        return None
    for name in ("critical", "warning"):
        value = rule.condition_config.get(name)
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
    return None


def _number(value: Any) -> float | None:
    if isinstance(value, Decimal):
        return float(value)
    return float(value) if isinstance(value, (int, float)) else None


def draw(values: list[float | None], level: float | None, measure: str) -> Sparkline:
    """A pure function (values in, SVG geometry out): one path of line segments broken where an
    hour has no value; lone hours are dots."""
    known = [v for v in values if v is not None] + ([level] if level is not None else [])
    if not [v for v in values if v is not None]:
        return Sparkline(values, level, "", None, f"{measure}: no data in the last {HOURS} hours")
    low, high = min(known), max(known)
    span = (high - low) or 1.0
    step = (WIDTH - 2 * PAD) / max(len(values) - 1, 1)

    def y(v: float) -> float:
        return round(HEIGHT - PAD - (v - low) / span * (HEIGHT - 2 * PAD), 1)

    parts: list[str] = []
    dots: list[tuple[float, float]] = []
    pen_down = False
    for i, v in enumerate(values):
        if v is None:
            pen_down = False
            continue
        x = round(PAD + i * step, 1)
        if not pen_down and (i + 1 >= len(values) or values[i + 1] is None):
            dots.append((x, y(v)))  # a lone hour: a dot, a path of one point draws nothing
            continue
        parts.append(f"{'L' if pen_down else 'M'}{x},{y(v)}")
        pen_down = True
    present = [v for v in values if v is not None]
    label = (f"{measure} per hour, last {HOURS} hours: min {min(present):.4g}, max {max(present):.4g}, "
             f"latest {present[-1]:.4g}" + (f"; level {level:.4g}" if level is not None else ""))
    return Sparkline(values, level, " ".join(parts), y(level) if level is not None else None, label, dots)


def rule_sparklines(rules: list[Rule], now: datetime) -> dict[int, Sparkline]:
    """{rule id: Sparkline} for the rules whose source is the rollups; others are left out."""
    end = now.replace(minute=0, second=0, microsecond=0) + STEP
    start = end - HOURS * STEP
    slots = [start + i * STEP for i in range(HOURS)]
    scopes: dict[tuple[str, str, str], list[Rule]] = {}
    for rule in rules:
        if rule.source == "rollups":
            scopes.setdefault(_scope(rule), []).append(rule)
    out: dict[int, Sparkline] = {}
    for (filters, score, _), members in list(scopes.items())[:MAX_SCOPES]:
        measures = sorted({r.measure for r in members})
        try:
            rows = aggregate(Query(project_id=members[0].project_id, start=start, end=end,
                                   filters=json.loads(filters), interval=STEP, score=score), measures)
        except (MetricsError, OverflowError):
            continue  # a scope the rollups cannot answer hourly: the rule's own page says why
        by_point = {key[0]: values for key, values in rows.items()}
        for rule in members:
            empty = 0.0 if rule.measure in ZERO_WHEN_EMPTY else None
            values = [_number(by_point[t].get(rule.measure)) if t in by_point else empty for t in slots]
            out[rule.id] = draw(values, _level(rule), rule.measure)
    return out
