"""Evaluate calls: claim a batch from the evaluation queue, run the project's evaluators over it
(quality/batch.py), and write scores, flags, the calls' evaluation state and the score rollups, in
one transaction per batch (a killed worker leaves the batch queued, nothing half-written)."""
from __future__ import annotations

import logging
import threading
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from quality.batch import SCORE_PREFIX, batch_evaluate
from quality.judge import judge_evaluators
from quality.models import QualitySettings
from quality.redaction import evaluation_enabled
from quality.registry import configured
from rollups.cubes import MODEL_CALL_KINDS

log = logging.getLogger(__name__)
# Calls per claim and transaction. Larger batches amortise the vectorised models and the rollup
# fold (its parts grow with the distinct names and dimensions, not with the calls).
BATCH_SIZE = 500

_QUEUE_SQL = """
INSERT INTO quality_pendingevaluation (call_id, project_id, enqueued_at)
SELECT id, project_id, now() FROM telemetry_call WHERE id = ANY(%s) AND kind = ANY(%s)
ON CONFLICT DO NOTHING
"""
# Claim ids first, in a MATERIALIZED CTE, then delete exactly those: with `IN (SELECT ... LIMIT
# ... FOR UPDATE SKIP LOCKED)` and statistics taken while the queue was empty, the planner chose a
# semi join that re-ran the locked subquery per queue row (13 minutes on a 50k burst). The
# materialized CTE runs once whatever the statistics say. Returns when each call was queued (lag).
_CLAIM_SQL = """
WITH picked AS MATERIALIZED (
    SELECT call_id FROM quality_pendingevaluation WHERE project_id = %s
    ORDER BY project_id, call_id LIMIT %s FOR UPDATE SKIP LOCKED)
DELETE FROM quality_pendingevaluation q USING picked WHERE q.call_id = picked.call_id
RETURNING q.call_id, q.enqueued_at
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


# Load shedding while evaluation lags: the share still evaluated is limit / lag (half the calls at
# twice the limit), never below MIN_SHED_RATE, so some signal keeps flowing during a flood.
MIN_SHED_RATE = 0.02


def shed_rate(*, lag_seconds: float, max_lag_seconds: int | None) -> tuple[float, str] | None:
    """(share of calls to evaluate, the reason written on the others) while past the limit."""
    if max_lag_seconds is None or lag_seconds <= max_lag_seconds:
        return None
    share = max(MIN_SHED_RATE, max_lag_seconds / lag_seconds)
    return share, (f"evaluation lag {lag_seconds:.0f} s over the project's {max_lag_seconds} s limit:"
                   f" sampled down to {share:.0%}")


def project_evaluate_threads(*, project_id: int, max_batches: int = 20, threads: int | None = None) -> int:
    """project_evaluate in `threads` threads of this process (settings.EVALUATION_THREADS), each
    with its own database connection and claims. A batch spends a fifth of its time waiting for
    PostgreSQL (claim, load, COPY, commit); the GIL is free meanwhile, so another thread evaluates.
    Returns the calls taken off the queue."""
    threads = threads or settings.EVALUATION_THREADS
    if threads <= 1:
        return project_evaluate(project_id=project_id, max_batches=max_batches)
    done: list[int] = []
    errors: list[BaseException] = []

    def run() -> None:
        try:
            done.append(project_evaluate(project_id=project_id, max_batches=max(1, max_batches // threads)))
        except BaseException as exc:  # noqa: BLE001 - re-raised in the calling thread
            errors.append(exc)
        finally:
            connection.close()  # each thread's own connection

    helpers = [threading.Thread(target=run, name=f"evaluate-{project_id}-{i}") for i in range(threads - 1)]
    for helper in helpers:
        helper.start()
    try:
        done.append(project_evaluate(project_id=project_id, max_batches=max(1, max_batches // threads)))
    finally:
        for helper in helpers:
            helper.join()
    if errors:
        raise errors[0]
    return sum(done)


def project_evaluate(*, project_id: int, max_batches: int = 20) -> int:
    """Evaluate a project's queued calls in batches; returns how many calls were taken off the queue."""
    row = QualitySettings.objects.filter(project_id=project_id).first()
    evaluators = configured(row.evaluators if row else {}, row.rules if row else []) + judge_evaluators(project_id)
    rate = row.sample_rate if row else 1.0
    max_lag = row.max_lag_seconds if row else None
    done = 0
    for _ in range(max_batches):
        with transaction.atomic(), connection.cursor() as cur:
            cur.execute(_CLAIM_SQL, [project_id, BATCH_SIZE])
            claimed = cur.fetchall()
            if not claimed:
                break
            now = timezone.now()
            lag = max((now - min(r[1] for r in claimed)).total_seconds(), 0.0)
            batch_evaluate(cur, project_id=project_id, ids=sorted(r[0] for r in claimed), evaluators=evaluators,
                           rate=rate, shed=shed_rate(lag_seconds=lag, max_lag_seconds=max_lag), now=now)
            done += len(claimed)
        if len(claimed) < BATCH_SIZE:
            break
    return done


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


def score_directions_validate(value: Any) -> list[str]:
    """Errors in a project's score directions: a JSON object {score name: "higher" | "lower"}."""
    if not isinstance(value, dict):
        return ['must be a JSON object such as {"helpfulness": "higher", "hallucination_rate": "lower"}']
    errors = [f"{name!r}: say \"higher\" or \"lower\" (which way is better)" for name, direction in value.items()
              if direction not in ("higher", "lower")]
    errors += [f"{name!r}: a score name is at most 100 characters" for name in value if len(str(name)) > 100]
    return errors


def settings_for(project_id: int) -> QualitySettings:
    return QualitySettings.objects.get_or_create(project_id=project_id)[0]


# --- Configuration writes, audited (audit.services.audit_record in the same transaction) ----------

QUALITY_FIELDS = ["evaluate", "redaction", "redaction_types", "evaluators", "rules", "sample_rate",
                  "max_lag_seconds", "score_directions"]
JUDGE_FIELDS = ["name", "enabled", "template", "criterion", "base_url", "api_key_env", "model", "temperature",
                "threshold", "sample_rate", "only_models", "only_features", "only_prompt_names", "daily_budget_usd",
                "timeout_s", "max_retries"]


def quality_settings_save(*, settings_row: QualitySettings, actor: Any = "system") -> QualitySettings:
    """Save a project's evaluator and redaction settings (a row changed in memory, e.g. by a form
    with commit=False), recording what changed as "evaluator.changed"."""
    from audit.services import audit_record, changed

    with transaction.atomic():
        stored = QualitySettings.objects.select_for_update().filter(pk=settings_row.pk).first()
        defaults = QualitySettings(project_id=settings_row.project_id)  # no row: the defaults applied
        before = {name: getattr(stored or defaults, name) for name in QUALITY_FIELDS}
        settings_row.save()
        old, new = changed(before, {name: getattr(settings_row, name) for name in QUALITY_FIELDS})
        if new:
            project = settings_row.project
            audit_record(actor=actor, action="evaluator.changed", organization=project.organization_id,
                         project=project, target_type="quality_settings", target_id=project.pk,
                         target_label=f"Quality settings of {project.name}", before=old, after=new)
    return settings_row


def _judge_values(judge: Any) -> dict[str, Any]:
    # api_key_env is the *name* of an environment variable, not the key (which is never stored);
    # base_url is masked of any credentials it carries by audit.services.scrub.
    return {name: getattr(judge, name) for name in JUDGE_FIELDS}


def judge_save(*, judge: Any, actor: Any = "system") -> Any:
    """Create or change an LLM judge (quality.models.Judge), audited as judge.created / judge.changed."""
    from audit.services import audit_record, changed
    from quality.models import Judge

    with transaction.atomic():
        stored = Judge.objects.select_for_update().filter(pk=judge.pk).first() if judge.pk else None
        judge.save()
        after = _judge_values(judge)
        project = judge.project
        common = {"actor": actor, "organization": project.organization_id, "project": project,
                  "target_type": "judge", "target_id": judge.pk, "target_label": str(judge)}
        if stored is None:
            audit_record(action="judge.created", before=None, after=after, **common)
        else:
            old, new = changed(_judge_values(stored), after)
            if new:
                audit_record(action="judge.changed", before=old, after=new, **common)
    return judge


def judge_delete(*, judge: Any, actor: Any = "system") -> None:
    from audit.services import audit_record

    with transaction.atomic():
        project = judge.project
        audit_record(actor=actor, action="judge.deleted", organization=project.organization_id, project=project,
                     target_type="judge", target_id=judge.pk, target_label=str(judge), before=_judge_values(judge))
        judge.delete()


__all__ = ["BATCH_SIZE", "SCORE_PREFIX", "calls_requeue", "evaluations_queue", "evaluations_request", "judge_delete",
           "judge_save", "project_evaluate", "project_evaluate_threads", "quality_settings_save",
           "score_directions_validate", "settings_for", "shed_rate", "sweep"]
