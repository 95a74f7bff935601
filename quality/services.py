"""Evaluate calls: claim a batch from the evaluation queue, run the project's evaluators on each
call, and write scores, flags, the call's evaluation state and the score rollups, in one
transaction per batch (a killed worker leaves the batch queued, nothing half-written)."""
from __future__ import annotations

import hashlib
import logging
import time
from datetime import datetime, timedelta
from typing import Any

from django.db import connection, transaction
from django.utils import timezone

from quality.evaluators.base import FlagResult, ScoreResult
from quality.judge import judge_evaluators
from quality.models import Evaluation, EvaluationStatus, Flag, QualitySettings
from quality.redaction import evaluation_enabled
from quality.registry import configured
from quality.samples import sample_of
from quality.scorefold import scores_fold
from rollups.cubes import DIMENSIONS, MODEL_CALL_KINDS
from telemetry.models import Call, Score, ScoreSource

log = logging.getLogger(__name__)
BATCH_SIZE = 100
SCORE_PREFIX = "eval:"  # external ids of evaluator scores: eval:<call id>:<score name>

_QUEUE_SQL = """
INSERT INTO quality_pendingevaluation (call_id, project_id, enqueued_at)
SELECT id, project_id, now() FROM telemetry_call WHERE id = ANY(%s) AND kind = ANY(%s)
ON CONFLICT DO NOTHING
"""
_CLAIM_SQL = """
DELETE FROM quality_pendingevaluation WHERE call_id IN (
    SELECT call_id FROM quality_pendingevaluation WHERE project_id = %s
    ORDER BY project_id, call_id LIMIT %s FOR UPDATE SKIP LOCKED)
RETURNING call_id
"""


def evaluations_queue(cursor: Any, project_id: int, call_ids: list[int]) -> None:
    """telemetry processor: queue the batch's model calls for evaluation (same transaction)."""
    if evaluation_enabled(project_id):
        cursor.execute(_QUEUE_SQL, [call_ids, list(MODEL_CALL_KINDS)])


def evaluations_request(project_id: int) -> None:
    """After a processing run: ask for an evaluation task. If the broker is down, the sweeper asks later."""
    from quality.tasks import evaluate_project

    if not evaluation_enabled(project_id):
        return
    try:
        evaluate_project.delay(project_id)
    except Exception:  # noqa: BLE001 - the queue rows are committed; quality.tasks.sweep recovers
        log.warning("could not enqueue evaluation of project %s", project_id, exc_info=True)


def calls_requeue(*, start: datetime, end: datetime, project_id: int | None = None) -> int:
    """Queue a time range's model calls for evaluation again (after changing evaluators)."""
    sql = ("INSERT INTO quality_pendingevaluation (call_id, project_id, enqueued_at)"
           " SELECT id, project_id, now() FROM telemetry_call WHERE start_time >= %s AND start_time < %s"
           " AND kind = ANY(%s)" + (" AND project_id = %s" if project_id else "") + " ON CONFLICT DO NOTHING")
    params: list[Any] = [start, end, list(MODEL_CALL_KINDS)] + ([project_id] if project_id else [])
    with connection.cursor() as cur:
        cur.execute(sql, params)
        return cur.rowcount


def _sampled(call_id: int, rate: float) -> bool:
    # Deterministic: re-scoring a range scores the same calls again.
    digest = hashlib.blake2b(str(call_id).encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") / 2**64 < rate


Found = tuple[list[ScoreResult], list[tuple[str, FlagResult]], dict[str, str], list[str]]


def _run(evaluators: list[tuple[Any, dict[str, Any]]], call: Call) -> Found:
    """(scores, (evaluator, flag) pairs, {evaluator: error}, evaluators that ran) for one call."""
    payload = getattr(call, "payload", None)
    sample = sample_of(model=call.model, params=call.params, metadata=call.metadata,
                       input=payload.input if payload else None, output=payload.output if payload else None,
                       context=payload.context if payload else None, project_id=call.project_id, call_id=call.id,
                       feature=call.feature, prompt_name=call.prompt_name, prompt_version=call.prompt_version)
    scores: list[ScoreResult] = []
    flags: list[tuple[str, FlagResult]] = []
    errors: dict[str, str] = {}
    ran: list[str] = []
    for evaluator, config in evaluators:
        try:
            result = evaluator.evaluate(sample, config)
        except Exception as exc:  # noqa: BLE001 - one failing evaluator must not block the others
            errors[evaluator.name] = f"{type(exc).__name__}: {exc}"[:500]
            continue
        ran.append(evaluator.name)
        scores.extend(result.scores)
        flags.extend((evaluator.name, flag) for flag in result.flags)
    return scores, flags, errors, ran


def project_evaluate(*, project_id: int, max_batches: int = 20) -> int:
    """Evaluate a project's queued calls in batches; returns how many calls were taken off the queue."""
    row = QualitySettings.objects.filter(project_id=project_id).first()
    evaluators = configured(row.evaluators if row else {}, row.rules if row else []) + judge_evaluators(project_id)
    rate = row.sample_rate if row else 1.0
    done = 0
    for _ in range(max_batches):
        with transaction.atomic():
            with connection.cursor() as cur:
                cur.execute(_CLAIM_SQL, [project_id, BATCH_SIZE])
                ids = [r[0] for r in cur.fetchall()]
            if not ids:
                break
            _evaluate_batch(project_id, ids, evaluators, rate)
            done += len(ids)
        if len(ids) < BATCH_SIZE:
            break
    return done


def _evaluate_batch(project_id: int, ids: list[int], evaluators: list[tuple[Any, dict[str, Any]]],
                    rate: float) -> None:
    now = timezone.now()
    calls = list(Call.objects.filter(project_id=project_id, id__in=ids).select_related("payload"))
    # A re-scored call's old figures leave the rollups (weight -1) before its new ones arrive.
    entries = [(*old, -1) for old in _previous(calls)]
    Score.objects.filter(call_id__in=[c.id for c in calls], external_id__startswith=SCORE_PREFIX).delete()
    Flag.objects.filter(call_id__in=[c.id for c in calls]).delete()
    scores, flags, states = [], [], []
    for call in calls:
        dims, start_us = _rollup_key(call)
        if rate < 1 and not _sampled(call.id, rate):
            states.append(Evaluation(call=call, project_id=project_id, status=EvaluationStatus.SKIPPED,
                                     evaluators=[], errors={}, duration_ms=0, evaluated_at=now))
            continue
        began = time.perf_counter()
        found_scores, found_flags, errors, ran = _run(evaluators, call)
        for score in found_scores:
            if score.value is None:
                continue
            scores.append(Score(project_id=project_id, external_id=f"{SCORE_PREFIX}{call.id}:{score.name}",
                                call=call, call_external_id=call.external_id, name=score.name[:100],
                                value=score.value, label=score.label[:100],
                                source=getattr(score, "source", ScoreSource.HEURISTIC),  # "judge": quality.judge
                                comment="; ".join(score.reasons)[:2000],
                                metadata={"reasons": list(score.reasons), **getattr(score, "metadata", {})},
                                created_at=now))
            entries.append((dims, start_us, score.name[:100], float(score.value), 1))
        seen: set[str] = set()
        for evaluator_name, flag in found_flags:
            if flag.name in seen:
                continue
            seen.add(flag.name)
            flags.append(Flag(project_id=project_id, call=call, name=flag.name[:120], severity=flag.severity,
                              evaluator=evaluator_name, detail=flag.detail[:2000], created_at=now))
            entries.append((dims, start_us, f"flag:{flag.name}"[:120], 1.0, 1))
        states.append(Evaluation(call=call, project_id=project_id,
                                 status=EvaluationStatus.PARTIAL if errors else EvaluationStatus.DONE,
                                 evaluators=ran, errors=errors, duration_ms=(time.perf_counter() - began) * 1000,
                                 evaluated_at=now))
    Score.objects.bulk_create(scores)
    Flag.objects.bulk_create(flags)
    Evaluation.objects.bulk_create(states, update_conflicts=True, unique_fields=["call"],
                                   update_fields=["status", "evaluators", "errors", "duration_ms", "evaluated_at"])
    with connection.cursor() as cur:
        scores_fold(cur, project_id, entries)


def _rollup_key(call: Call) -> tuple[tuple[str, ...], int]:
    """A call's dimension values and start (epoch µs): where its scores are rolled up."""
    return tuple(str(getattr(call, d) or "") for d in DIMENSIONS), int(call.start_time.timestamp() * 1_000_000)


def _previous(calls: list[Call]) -> list[tuple[tuple[str, ...], int, str, float]]:
    """The rollup entries the calls' current scores and flags were folded as."""
    keys = {call.id: _rollup_key(call) for call in calls}
    scores = Score.objects.filter(call_id__in=keys, external_id__startswith=SCORE_PREFIX, value__isnull=False)
    out = [(*keys[call_id], name, float(value)) for call_id, name, value in
           scores.values_list("call_id", "name", "value")]
    out += [(*keys[call_id], f"flag:{name}"[:120], 1.0) for call_id, name in
            Flag.objects.filter(call_id__in=keys).values_list("call_id", "name")]
    return out


def sweep(*, min_age: timedelta = timedelta(seconds=60)) -> list[int]:
    """Projects with evaluations queued for a while (a lost message): enqueue them."""
    from quality.tasks import evaluate_project

    with connection.cursor() as cur:
        cur.execute("SELECT DISTINCT project_id FROM quality_pendingevaluation WHERE enqueued_at < %s",
                    [timezone.now() - min_age])
        projects = [r[0] for r in cur.fetchall()]
    for project_id in projects:
        evaluate_project.delay(project_id)
    return projects


def settings_for(project_id: int) -> QualitySettings:
    return QualitySettings.objects.get_or_create(project_id=project_id)[0]


__all__ = ["BATCH_SIZE", "calls_requeue", "evaluations_queue", "evaluations_request", "project_evaluate",
           "settings_for", "sweep"]
