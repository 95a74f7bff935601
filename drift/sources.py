"""Drift findings as an alerts metric source ("drift on signal S for group G above T"), registered
from DriftConfig.ready(): alerts/ never imports drift.

A rule with source "drift" names the signal in `measure` (latency, ttft, input_tokens, output_tokens, cost,
input_chars, output_chars, error_rate, thumbs_down_rate, truncation_rate, model_mix, error_type_mix,
finish_reason_mix; or "score" with `score`, "flag" with `flag`), filters and groups by the
finding's group dimensions, and reads the statistic (W1/σ, Cohen's h, Jensen-Shannon) of the newest
finished run inside its window, for the first comparison (24 h against the 7 days before by default).
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

from drift.models import DriftRun, Finding, RunStatus, Verdict
from drift.services import DIST_SIGNALS, GROUP_DIMENSIONS, NUMERIC_SIGNALS

if TYPE_CHECKING:
    from alerts.models import Rule
    from alerts.registry import Reading, Window

SIGNALS = {*NUMERIC_SIGNALS, *DIST_SIGNALS, "error_rate", "thumbs_down_rate", "truncation_rate", "model_mix",
           "error_type_mix", "finish_reason_mix", "language_mix"}
DIMENSIONS = {dim for dims in GROUP_DIMENSIONS for dim in dims}


def signal_of(rule: Rule) -> str:
    if rule.measure == "score":
        return f"score:{rule.score}"
    if rule.measure == "flag":
        return f"flag:{rule.flag}"
    return rule.measure


class DriftSource:
    name = "drift"

    def validate(self, rule: Rule) -> None:
        from alerts.registry import RuleInvalid

        if rule.measure not in SIGNALS | {"score", "flag"}:
            raise RuleInvalid("measure", f"a drift signal: {', '.join(sorted(SIGNALS))}, score or flag")
        if (rule.measure == "score" and not rule.score) or (rule.measure == "flag" and not rule.flag):
            raise RuleInvalid(rule.measure, f"a drift rule on {rule.measure}s names the {rule.measure}")
        if any(dim not in DIMENSIONS for dim in [*rule.group_by, *(rule.filters or {})]):
            raise RuleInvalid("group_by", f"drift groups by {', '.join(sorted(DIMENSIONS))}")

    def read(self, rule: Rule, window: Window) -> Reading:
        from alerts.registry import GroupValue, Reading

        reading = Reading()
        run = (DriftRun.objects.filter(project_id=rule.project_id, status=RunStatus.DONE,
                                       finished_at__gte=window.start, finished_at__lt=window.end)
               .order_by("-finished_at").first())
        if run is None or not run.windows:
            return reading
        findings = Finding.objects.filter(run=run, signal=signal_of(rule), comparison=run.windows[0]["name"])
        for finding in findings:
            group: dict[str, Any] = finding.group
            if set(group) != set(rule.group_by):
                continue
            if any(group.get(dim) not in values for dim, values in (rule.filters or {}).items()):
                continue
            value = finding.statistic if finding.verdict != Verdict.NOT_ENOUGH_DATA else None
            reading.groups[tuple(str(group[dim]) for dim in rule.group_by)] = GroupValue(
                value=abs(value) if value is not None else None,
                count=int(min(finding.n_baseline, finding.n_current)))
        return reading
