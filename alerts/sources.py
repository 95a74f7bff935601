"""The default metric source (every measure of the metrics API, read through rollups.selectors)
and the default action (notify: outbox rows for the rule's routed channels)."""
from __future__ import annotations

import json
from datetime import timedelta
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from django.conf import settings

from alerts.registry import GroupValue, Reading, RuleInvalid, Transition, Window
from rollups.cubes import DIMENSIONS, choose_cube
from rollups.selectors import MetricsError, Query, aggregate, parse_measure, top_entities
from rollups.selectors.slo import parse_over, shares_over

if TYPE_CHECKING:
    from alerts.models import Rule

HOUR = timedelta(hours=1)
MAX_WINDOW = timedelta(days=30)
MIN_WINDOW = timedelta(minutes=1)
# The measure whose value says how many observations a group's value rests on (for min_count).
_COUNT_OF = {"score": "score_count", "flag": "flag_evaluated"}
_FEEDBACK_COUNT = {"thumbs": "thumbs_count", "rating": "rating_count", "feedback": "feedback_count"}


def count_measure(measure: str) -> str:
    kind, _ = parse_measure(measure)
    if kind == "feedback":
        return _FEEDBACK_COUNT[measure.split("_")[0]]
    return _COUNT_OF.get(kind, "count")


def score_name(rule: Rule) -> str:
    """The rollup score name a score_* or flag_* rule reads; '' for call and feedback measures."""
    if rule.measure.startswith("score_"):
        return rule.score
    if rule.measure.startswith("flag_"):
        return "flag:" + rule.flag
    return ""


def _number(value: Any) -> float | None:
    if value is None:
        return None
    return float(value) if isinstance(value, (Decimal, int, float)) else None


class RollupsSource:
    """Counts, rates, percentiles, cost, scores, flags and feedback from rollups.selectors.aggregate."""

    name = "rollups"

    def validate(self, rule: Rule) -> None:
        try:
            kind, _ = parse_measure(rule.measure)
        except MetricsError as exc:
            raise RuleInvalid("measure", str(exc)) from None
        if kind == "score" and not rule.score:
            raise RuleInvalid("score", f"{rule.measure} needs a score name, e.g. groundedness")
        if kind == "flag" and not rule.flag:
            raise RuleInvalid("flag", f"{rule.measure} needs a flag name, e.g. hallucination")
        if not isinstance(rule.filters, dict) or any(
                dim not in DIMENSIONS or not isinstance(values, list) or not all(isinstance(v, str) for v in values)
                for dim, values in rule.filters.items()):
            raise RuleInvalid("filters", f"an object of dimension → list of values; dimensions: {', '.join(DIMENSIONS)}")
        if len(rule.group_by) > 2 or any(dim not in DIMENSIONS for dim in rule.group_by) \
                or len(set(rule.group_by)) != len(rule.group_by):
            raise RuleInvalid("group_by", f"up to two distinct dimensions among {', '.join(DIMENSIONS)}")
        window = timedelta(seconds=rule.window_seconds)
        if not MIN_WINDOW <= window <= MAX_WINDOW or window % MIN_WINDOW:
            raise RuleInvalid("window_seconds", "a whole number of minutes from 1 minute to 30 days")
        cube = choose_cube(set(rule.group_by) | set(rule.filters) | {"kind"})
        if cube == "all":
            # Several dimensions at once live only in the hour and day buckets of the every-dimension cube.
            if window % HOUR:
                raise RuleInvalid("window_seconds", "grouping or filtering by several dimensions at once is "
                                                    "kept in hourly buckets only: use a window of whole hours")
            if kind in ("score", "flag"):
                raise RuleInvalid("filters", "scores and flags are rolled up by one dimension at a time: group and "
                                             "filter by one dimension (model, prompt, feature, team, environment or "
                                             "status)")
        if window > timedelta(hours=settings.ROLLUP_MINUTE_HOURS) and window % HOUR:
            raise RuleInvalid("window_seconds", f"minute buckets are kept {settings.ROLLUP_MINUTE_HOURS} h: a longer "
                                                "window must be whole hours")

    def read(self, rule: Rule, window: Window) -> Reading:
        result = self.read_many([(rule, window)])[0]
        if isinstance(result, Exception):
            raise result
        return result

    def read_many(self, requests: list[tuple[Rule, Window]]) -> list[Reading | Exception]:
        """Every (rule, window) reading, in order, with one rollup query per distinct question:
        rules sharing a project, scope, grouping and window are answered together, every measure
        at once (a beat tick's 1,000 rules ask a few dozen questions). A question the rollups
        refuse is that question's rules' error (a MetricsError in their place), not the tick's."""
        questions: dict[tuple[Any, ...], set[str]] = {}
        keys: list[tuple[Any, ...] | Exception] = []
        for rule, window in requests:
            try:
                key = _question(rule, window)
            except MetricsError as exc:
                keys.append(exc)
                continue
            keys.append(key)
            over = key[-1].startswith("over:")
            questions.setdefault(key, set()).update({rule.measure} if over else
                                                   {rule.measure, count_measure(rule.measure)})
        answers: dict[tuple[Any, ...], dict[tuple[str, ...], dict[str, Any]] | Exception] = {}
        for key, measures in questions.items():
            project_id, filters, group_by, score, start, end, family = key
            query = Query(project_id=project_id, start=start, end=end, filters=json.loads(filters),
                          group_by=group_by, score=score)
            try:
                answers[key] = _answer(query, sorted(measures), over=family.startswith("over:"))
            except (MetricsError, OverflowError) as exc:
                answers[key] = exc
        out: list[Reading | Exception] = []
        for (rule, _), key in zip(requests, keys, strict=True):
            answer = key if isinstance(key, Exception) else answers[key]
            if isinstance(answer, Exception):
                out.append(answer)
                continue
            counter = "timed" if key[-1].startswith("over:") else count_measure(rule.measure)
            out.append(Reading(groups={group: GroupValue(value=_number(values.get(rule.measure)),
                                                         count=int(values.get(counter) or 0))
                                       for group, values in answer.items()}))
        return out


def _question(rule: Rule, window: Window) -> tuple[Any, ...]:
    """What one read asks the rollups, measures aside: reads with equal questions share a query.
    Call, quality and feedback measures are separate families (rollups.selectors reads each from
    its own rows), and each latency SLO measure is a question of its own."""
    kind, _ = parse_measure(rule.measure)
    family = {"score": "quality", "flag": "quality", "feedback": "feedback", "over": "over:" + rule.measure}.get(
        kind, "calls")
    return (rule.project_id, json.dumps(rule.filters, sort_keys=True), tuple(rule.group_by),
            score_name(rule) if family == "quality" else "", window.start, window.end, family)


def _answer(query: Query, measures: list[str], *, over: bool) -> dict[tuple[str, ...], dict[str, Any]]:
    """{group values: {measure: value}} for one question."""
    if over:  # a latency SLO's bad-call ratio rests on the calls timed (those in the sketches)
        (measure,) = measures
        rows = {key: {measure: bad / timed, "timed": timed}
                for key, (bad, timed) in shares_over(query, *parse_over(measure)).items()}
    else:
        rows = aggregate(query, measures)
    return {tuple("" if g is None else str(g) for g in group): values for (_, *group), values in rows.items()}


class UsersSource:
    """End users' figures (cost, calls, errors, tokens) from the daily per-user rollups, grouped by
    user: "a user over $50 this month". Windows are read as whole UTC days, and only the
    TOP_USERS biggest users of the window (by the measure) are looked at."""

    name = "users"
    TOP_USERS = 100
    MEASURES = {"cost": "cost", "count": "calls", "errors": "errors", "tokens_total": "tokens"}

    def validate(self, rule: Rule) -> None:
        if rule.measure not in self.MEASURES:
            raise RuleInvalid("measure", f"per user: one of {', '.join(self.MEASURES)}")
        if list(rule.group_by) != ["user"]:
            raise RuleInvalid("group_by", 'per-user rules group by ["user"]')
        if rule.filters:
            raise RuleInvalid("filters", "per-user figures are not broken down by dimension: no filters")
        if not timedelta(days=1) <= timedelta(seconds=rule.window_seconds) <= MAX_WINDOW:
            raise RuleInvalid("window_seconds", "per-user figures are daily: a window from 1 to 30 days")

    def read(self, rule: Rule, window: Window) -> Reading:
        order = self.MEASURES[rule.measure]
        rows = top_entities(project_id=rule.project_id, entity="user", start=window.start, end=window.end,
                            order_by=order, limit=self.TOP_USERS)
        key = {"cost": "cost_usd", "calls": "calls", "errors": "errors", "tokens": "tokens"}[order]
        return Reading(groups={(row["key"],): GroupValue(value=_number(row[key]), count=row["calls"]) for row in rows})


def notify_action(transition: Transition) -> None:
    """Outbox rows for every channel routed for the change's severity (none when muted)."""
    from alerts.delivery import notifications_for

    if not transition.muted:
        notifications_for(transition)
