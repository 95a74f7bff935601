"""Evaluation queue lag as an alerts metric source ("evaluation more than 10 minutes behind"):
registered from QualityConfig.ready() when the alerts app is installed; alerts never imports quality.

Measures, both states read now (no history, so the threshold condition only, no group-by or filters):
`evaluation_lag_seconds`, the age of the oldest call waiting for its evaluators (0 with none waiting),
and `evaluation_backlog`, how many calls wait. Both come from quality.selectors.evaluation_lag, the
figure the quality page and /metrics show, so an alert and the page never disagree."""
from __future__ import annotations

from typing import Any

MEASURES = ("evaluation_lag_seconds", "evaluation_backlog")


class QualitySource:
    name = "quality"

    def validate(self, rule: Any) -> None:
        from alerts.registry import RuleInvalid

        if rule.measure not in MEASURES:
            raise RuleInvalid("measure", f"the quality source measures {', '.join(MEASURES)}")
        if rule.score or rule.flag:
            raise RuleInvalid("score", "evaluation lag takes no score or flag")
        if rule.group_by:
            raise RuleInvalid("group_by", "evaluation lag is one figure per project: no group-by")
        if rule.filters:
            raise RuleInvalid("filters", "evaluation lag takes no filters")
        if rule.condition != "threshold":
            raise RuleInvalid("condition", f"{rule.measure} is a state (no history): use the threshold condition")

    def read(self, rule: Any, window: Any) -> Any:
        from alerts.registry import GroupValue, Reading
        from quality.selectors import evaluation_lag

        lag = evaluation_lag(project_id=rule.project_id)
        value = float(lag.oldest_seconds) if rule.measure == "evaluation_lag_seconds" else float(lag.count)
        # The count is the queue's size with a floor of 1, so min_count never hides an empty queue's 0.
        return Reading(groups={(): GroupValue(value=value, count=max(int(lag.count), 1))})
