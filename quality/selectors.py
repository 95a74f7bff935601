"""Reads other apps need from quality: which way is better for a score, which evaluator a flag
belongs to, and how far evaluation lags behind traffic."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from django.db import connection
from django.utils import timezone

from quality.models import QualitySettings
from quality.registry import EVALUATORS, builtin_direction, evaluated_score, evaluator_for_flag
from rollups.selectors import EVALUATED_ANY

Direction = Literal["higher", "lower"]  # which way is *better*


def score_directions(*, project_id: int) -> dict[str, str]:
    """The project's own directions for custom scores: {name: "higher" | "lower"}."""
    row = QualitySettings.objects.filter(project_id=project_id).values_list("score_directions", flat=True).first()
    return {k: v for k, v in (row or {}).items() if v in ("higher", "lower")}


def score_direction(*, project_id: int, name: str, custom: dict[str, str] | None = None) -> Direction:
    """Which way is better for score `name` (a flag, "flag:<name>", is always lower-is-better).
    A project setting wins over what a built-in evaluator declares; unknown scores default to
    higher-is-better, the common case for judge and human grades. Pass `custom` (from
    score_directions) when asking about many scores, to read the setting once."""
    if name.startswith("flag:"):
        return "lower"
    own = (custom if custom is not None else score_directions(project_id=project_id)).get(name)
    if own in ("higher", "lower"):
        return own  # type: ignore[return-value]
    return builtin_direction(name) or "higher"


def higher_is_worse(*, project_id: int, name: str, custom: dict[str, str] | None = None) -> bool:
    return score_direction(project_id=project_id, name=name, custom=custom) == "lower"


def flag_denominator(name: str) -> str:
    """The rollup score whose count is a flag rate's denominator: the calls the flag's evaluator
    evaluated. That is the count of the score the evaluator gives whenever it can judge a call
    (Evaluator.evaluated_score); an LLM judge's flag carries the judge's name, which is also its
    score's. Other flags divide by every evaluated call ("evaluated:*")."""
    evaluator = evaluator_for_flag(name)
    if evaluator:
        return evaluated_score(evaluator) or EVALUATED_ANY
    return name if name.startswith("judge.") else EVALUATED_ANY


@dataclass(frozen=True)
class Lag:
    count: int  # calls waiting for evaluation
    oldest_seconds: float  # age of the oldest waiting call (0 when none)
    max_lag_seconds: int | None  # the project's limit, if any
    shedding: bool  # over the limit: new calls are being sampled down

    @property
    def over(self) -> bool:
        return self.max_lag_seconds is not None and self.oldest_seconds > self.max_lag_seconds


def evaluation_lag(*, project_id: int | None = None) -> Lag:
    """Evaluation queue lag, for one project or (None) the whole install (/metrics). Served by
    pendingeval_project_call (count, min over one project's rows) or a scan of the queue."""
    with connection.cursor() as cur:
        if project_id is None:
            cur.execute("SELECT count(*), min(enqueued_at) FROM quality_pendingevaluation")
        else:
            cur.execute("SELECT count(*), min(enqueued_at) FROM quality_pendingevaluation WHERE project_id = %s",
                        [project_id])
        count, oldest = cur.fetchone()
    age = max((timezone.now() - oldest).total_seconds(), 0.0) if oldest else 0.0
    limit = None
    if project_id is not None:
        limit = QualitySettings.objects.filter(project_id=project_id).values_list("max_lag_seconds", flat=True).first()
    return Lag(count=int(count), oldest_seconds=age, max_lag_seconds=limit,
               shedding=limit is not None and age > limit)


__all__ = ["EVALUATED_ANY", "EVALUATORS", "Lag", "evaluation_lag", "flag_denominator", "higher_is_worse", "score_direction",
           "score_directions"]
