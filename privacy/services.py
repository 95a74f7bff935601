"""End users' data (GDPR): erase everything about one end user (`user_id` of calls) in a project, or
export it as one JSON document. docs/privacy.md says what is removed and what stays.

Erasure works in batches of calls, one transaction each, so a user with millions of calls never
holds locks for long and a crash resumes where it stopped (run it again: it is idempotent). Each
batch first takes the calls out of the work queues (processing, evaluation), waiting for a worker
that holds them, so no worker ever meets a half-erased call and nothing is counted twice or undone.
"""
from __future__ import annotations

import hashlib
import hmac
import json
import logging
from collections import Counter
from collections.abc import Callable, Iterator
from typing import Any

from django.conf import settings
from django.core.serializers.json import DjangoJSONEncoder
from django.db import connection, transaction
from django.utils import timezone

from audit.services import audit_record
from privacy.models import Erasure, ErasureStatus
from rollups.cubes import MODEL_CALL_KINDS
from telemetry.serializers import call_dict

log = logging.getLogger(__name__)
ERASE_BATCH = 1000  # calls per transaction
EXPORT_BATCH = 500
# A user whose calls keep arriving while they are erased: passes over the calls before giving up
# (the client must stop sending that id first; docs/privacy.md).
MAX_PASSES = 10_000


class EmptyUserId(ValueError):
    pass


def user_id_digest(*, project_id: int, user_id: str) -> str:
    """What the receipt keeps instead of the id: HMAC-SHA256 keyed by the installation's secret key,
    over the project and the id, first 32 hex characters. Whoever knows the id (the end user, the
    owner answering them) can check that this erasure was theirs; nobody can read the id back, and
    without the secret key nobody can try likely ids against it (a plain or salted hash of a short id
    such as an email or a number is guessed in seconds)."""
    message = f"{project_id}:{user_id}".encode()
    return hmac.new(settings.SECRET_KEY.encode(), message, hashlib.sha256).hexdigest()[:32]


def _check(user_id: str) -> str:
    if not isinstance(user_id, str) or not user_id:
        raise EmptyUserId("an end user id is needed (calls without a user id belong to nobody to erase)")
    return user_id


# --- Erasure ----------------------------------------------------------------------------------------

_PICK = """SELECT id, external_id, trace_id FROM telemetry_call WHERE project_id = %s AND user_id = %s
ORDER BY id LIMIT %s"""
# Calls still queued were never folded into the rollups: dequeued here, they never will be. Waits for
# a worker that claimed them (its DELETE holds the rows) to commit, so the rest were folded.
_DEQUEUE_CALLS = "DELETE FROM telemetry_pendingcall WHERE call_id = ANY(%s) RETURNING call_id"
_DEQUEUE_EVALUATIONS = "DELETE FROM quality_pendingevaluation WHERE call_id = ANY(%s)"
# The user's calls in their sessions' daily figures come out (the rows keyed by a session of several
# users keep the others); the project-level cubes (rollups_rollup, rollups_errorrollup) have no user
# dimension and keep the calls as anonymous aggregates.
_SESSION_SUBTRACT = """
WITH gone AS (
    SELECT session_id AS key, date_trunc('day', start_time, 'UTC') AS bucket, count(*) AS calls,
           sum((status = 'error')::int) AS errors,
           sum(COALESCE(input_tokens, 0) + COALESCE(output_tokens, 0)) AS tokens,
           sum(COALESCE(cost_total_usd, 0)) AS cost_usd
    FROM telemetry_call WHERE id = ANY(%(ids)s) AND kind = ANY(%(kinds)s) AND session_id <> ''
    GROUP BY 1, 2)
UPDATE rollups_entityrollup r SET calls = r.calls - gone.calls, errors = r.errors - gone.errors,
    tokens = r.tokens - gone.tokens, cost_usd = r.cost_usd - gone.cost_usd
FROM gone WHERE r.project_id = %(project)s AND r.entity = 'session' AND r.key = gone.key AND r.bucket = gone.bucket
RETURNING r.id, r.calls
"""
_SIGNALS = """
DELETE FROM {table} WHERE project_id = %(project)s
  AND (call_id = ANY(%(ids)s) OR (call_id IS NULL AND call_external_id = ANY(%(external_ids)s)))
RETURNING id
"""
# Deleting a signal queues it for the rollups (triggers of migration rollups 0010), whose worker
# would then fold it *out* of the aggregates. The signal's queue rows and its ledger row go too:
# what it added to the project's feedback and score figures stays, anonymous, like the calls.
_FORGET_SIGNALS = """
DELETE FROM rollups_pendingsignal WHERE project_id = %(project)s AND kind = %(kind)s AND row_id = ANY(%(ids)s)
"""
_FORGET_LEDGER = "DELETE FROM rollups_signalfold WHERE kind = %(kind)s AND row_id = ANY(%(ids)s)"
# Traces the erased calls belonged to: recomputed from the calls that remain (other users' spans),
# without the user's id; traces left without calls are deleted.
_TRACES_RECOUNT = """
UPDATE telemetry_trace t SET call_count = s.n, start_time = s.start_time, end_time = s.end_time,
    user_id = CASE WHEN t.user_id = %(user)s THEN '' ELSE t.user_id END
FROM (SELECT trace_id, count(*) AS n, min(start_time) AS start_time, max(end_time) AS end_time
      FROM telemetry_call WHERE project_id = %(project)s AND trace_id = ANY(%(traces)s) GROUP BY trace_id) s
WHERE t.project_id = %(project)s AND t.trace_id = s.trace_id
"""
_TRACES_EMPTY = """
DELETE FROM telemetry_trace t WHERE t.project_id = %(project)s AND t.trace_id = ANY(%(traces)s)
  AND NOT EXISTS (SELECT 1 FROM telemetry_call c WHERE c.project_id = t.project_id AND c.trace_id = t.trace_id)
"""


# Other apps that keep copies of calls without a foreign key (a foreign key with ON DELETE CASCADE
# needs nothing) add a step: step(cursor, project_id, call_ids) -> {table: rows removed}, run in each
# batch's transaction before the calls go. Registered in privacy.apps, for installed apps only.
ErasureStep = Callable[[Any, int, list[int]], dict[str, int]]
_STEPS: list[ErasureStep] = []


def register_erasure_step(step: ErasureStep) -> None:
    if step not in _STEPS:
        _STEPS.append(step)


def dataset_items_erase(cur: Any, project_id: int, call_ids: list[int]) -> dict[str, int]:
    """review/: dataset items are snapshots of calls (their input, the verdict's answer), kept by id
    without a foreign key so retention never changes a dataset. An erasure does: the user's items
    leave every version, whose item count follows."""
    cur.execute("""
        WITH gone AS (
            DELETE FROM review_datasetitem i USING review_datasetversion v, review_dataset d
            WHERE i.call_id = ANY(%s) AND v.id = i.version_id AND d.id = v.dataset_id AND d.project_id = %s
            RETURNING i.version_id)
        UPDATE review_datasetversion v SET item_count = v.item_count - g.n
        FROM (SELECT version_id, count(*) AS n FROM gone GROUP BY version_id) g WHERE v.id = g.version_id
        RETURNING g.n""", [call_ids, project_id])
    return {"review_datasetitem": sum(r[0] for r in cur.fetchall())}


def _delete(cur: Any, sql: str, params: Any) -> int:
    cur.execute(sql, params)
    return cur.rowcount


def _forget_signals(cur: Any, project_id: int, kind: str, ids: list[int]) -> None:
    if ids:
        cur.execute(_FORGET_SIGNALS, {"project": project_id, "kind": kind, "ids": ids})
        cur.execute(_FORGET_LEDGER, {"kind": kind, "ids": ids})


def _erase_batch(cur: Any, project_id: int, user_id: str, batch_size: int) -> Counter[str] | None:
    """One batch of the user's calls and everything hanging from them; None when none is left."""
    cur.execute(_PICK, [project_id, user_id, batch_size])
    rows = cur.fetchall()
    if not rows:
        return None
    ids = [r[0] for r in rows]
    external_ids = [r[1] for r in rows]
    traces = sorted({r[2] for r in rows if r[2]})
    counts: Counter[str] = Counter()
    cur.execute(_DEQUEUE_CALLS, [ids])
    unfolded = {r[0] for r in cur.fetchall()}
    counts["telemetry_pendingcall"] += len(unfolded)
    counts["quality_pendingevaluation"] += _delete(cur, _DEQUEUE_EVALUATIONS, [ids])
    folded = [i for i in ids if i not in unfolded]
    if folded:
        cur.execute(_SESSION_SUBTRACT, {"ids": folded, "kinds": list(MODEL_CALL_KINDS), "project": project_id})
        emptied = [r[0] for r in cur.fetchall() if r[1] <= 0]
        counts["rollups_entityrollup"] += _delete(cur, "DELETE FROM rollups_entityrollup WHERE id = ANY(%s)",
                                                  [emptied])
    params = {"project": project_id, "ids": ids, "external_ids": external_ids}
    for table, kind in (("telemetry_score", "s"), ("telemetry_feedback", "f")):
        cur.execute(_SIGNALS.format(table=table), params)
        signal_ids = [r[0] for r in cur.fetchall()]
        counts[table] += len(signal_ids)
        _forget_signals(cur, project_id, kind, signal_ids)
    for step in _STEPS:
        counts.update(step(cur, project_id, ids))
    for table in ("quality_flag", "quality_evaluation", "telemetry_callpayload"):
        counts[table] += _delete(cur, f"DELETE FROM {table} WHERE call_id = ANY(%s)", [ids])  # noqa: S608
    counts["telemetry_call"] += _delete(cur, "DELETE FROM telemetry_call WHERE id = ANY(%s)", [ids])
    if traces:
        trace_params = {"project": project_id, "traces": traces, "user": user_id}
        cur.execute(_TRACES_RECOUNT, trace_params)
        counts["telemetry_trace"] += _delete(cur, _TRACES_EMPTY, trace_params)
    return counts


def _erase_rest(cur: Any, project_id: int, user_id: str) -> Counter[str]:
    """What is keyed by the user rather than hanging from their calls."""
    counts: Counter[str] = Counter()
    # Feedback the user gave on calls that are not theirs (end_user_id), and its rollup queue rows.
    cur.execute("DELETE FROM telemetry_feedback WHERE project_id = %s AND end_user_id = %s RETURNING id",
                [project_id, user_id])
    feedback_ids = [r[0] for r in cur.fetchall()]
    counts["telemetry_feedback"] += len(feedback_ids)
    _forget_signals(cur, project_id, "f", feedback_ids)
    # The user's own daily figures (users' top lists, the user page).
    counts["rollups_entityrollup"] += _delete(
        cur, "DELETE FROM rollups_entityrollup WHERE project_id = %s AND entity = 'user' AND key = %s",
        [project_id, user_id])
    # Traces naming the user whose calls have other users (or were purged by retention).
    cur.execute("UPDATE telemetry_trace SET user_id = '' WHERE project_id = %s AND user_id = %s",
                [project_id, user_id])
    counts["telemetry_trace (user id cleared)"] += cur.rowcount
    return counts


def _forget_cached_tops(project_id: int) -> None:
    """The users' top lists cached for the people page (dashboards.selectors.people) hold user ids
    for up to ten minutes: dropped now."""
    from django.core.cache import cache

    client = getattr(cache, "_cache", None)
    try:
        if hasattr(client, "get_client"):  # django's RedisCache
            redis = client.get_client(None, write=True)
            for key in redis.scan_iter(match=cache.make_key(f"dashboards:top:{project_id}:*"), count=500):
                redis.delete(key)
        elif hasattr(cache, "_cache") and isinstance(cache._cache, dict):  # local memory (no Redis)
            for key in [k for k in cache._cache if f"dashboards:top:{project_id}:" in k]:
                cache._cache.pop(key, None)
    except Exception:  # noqa: BLE001 - the entries expire by themselves within TOP_CACHE_SECONDS
        log.warning("could not drop the cached top users of project %s", project_id, exc_info=True)


def end_user_erase(*, project: Any, user_id: str, actor: Any = "system", erasure: Erasure | None = None,
                   batch_size: int = ERASE_BATCH) -> dict[str, int]:
    """Erase every row about end user `user_id` in `project`; returns rows removed per table. Leaves
    a receipt in the audit log ("end_user.erased": who, when, a keyed digest of the id, the counts).
    Idempotent: run again after a crash, it finishes the job (and a second receipt says so)."""
    user_id = _check(user_id)
    counts: Counter[str] = Counter()
    if erasure is not None:
        Erasure.objects.filter(pk=erasure.pk).update(status=ErasureStatus.RUNNING)
    for _ in range(MAX_PASSES):
        with transaction.atomic(), connection.cursor() as cur:
            batch = _erase_batch(cur, project.id, user_id, batch_size)
            if batch is None:
                break
            counts.update(batch)
            if erasure is not None:  # progress, in the batch's transaction
                Erasure.objects.filter(pk=erasure.pk).update(counts=dict(counts))
    with transaction.atomic(), connection.cursor() as cur:
        counts.update(_erase_rest(cur, project.id, user_id))
        if erasure is not None:
            Erasure.objects.filter(pk=erasure.pk).update(status=ErasureStatus.DONE, counts=dict(counts),
                                                         finished_at=timezone.now())
        audit_record(actor=actor, action="end_user.erased", organization=project.organization_id, project=project,
                     target_type="end_user", target_id=user_id_digest(project_id=project.id, user_id=user_id)[:16],
                     target_label="end user (id not kept)",
                     after={"user_id_hmac": user_id_digest(project_id=project.id, user_id=user_id),
                            "user_id_length": len(user_id), "rows_removed": dict(sorted(counts.items())),
                            "erasure_request": erasure.pk if erasure is not None else None})
    _forget_cached_tops(project.id)
    return dict(counts)


def erasure_request(*, project: Any, user_id: str, actor: Any) -> Erasure:
    """Record an erasure request and hand it to a worker (privacy.tasks.erase_end_user) after commit."""
    from privacy.tasks import erase_end_user
    from tenancy.models import ApiKey

    user_id = _check(user_id)
    user = actor if getattr(actor, "pk", None) is not None and hasattr(actor, "get_username") else None
    key = actor if isinstance(actor, ApiKey) else None
    label = user.get_username() if user is not None else (f"key {key.prefix}…" if key is not None else str(actor))
    with transaction.atomic():
        erasure = Erasure.objects.create(project=project, user_digest=user_id_digest(project_id=project.id,
                                                                                   user_id=user_id),
                                         requested_by=user, requested_by_key_id=key.pk if key else None,
                                         requested_by_label=label[:255])
        # The id reaches the worker in the task's arguments only (results are not stored).
        transaction.on_commit(lambda: _enqueue(erase_end_user, erasure.pk, user_id))
    return erasure


def _enqueue(task: Any, erasure_id: int, user_id: str) -> None:
    try:
        task.delay(erasure_id, user_id)
    except Exception as exc:  # noqa: BLE001 - said on the request, which the page and the API show
        log.warning("could not enqueue erasure %s", erasure_id, exc_info=True)
        Erasure.objects.filter(pk=erasure_id).update(
            status=ErasureStatus.FAILED, error=f"could not reach the task queue ({type(exc).__name__}); "
                                               "ask again, or run manage.py erase_end_user", finished_at=timezone.now())


def erasure_run(*, erasure_id: int, user_id: str) -> dict[str, int] | None:
    """The worker's side of erasure_request."""
    erasure = Erasure.objects.select_related("project", "requested_by").filter(pk=erasure_id).first()
    if erasure is None or erasure.user_digest != user_id_digest(project_id=erasure.project_id, user_id=user_id):
        return None  # not ours to act on: a stale or forged message
    if erasure.status == ErasureStatus.DONE:
        return erasure.counts  # a redelivered message
    from tenancy.models import ApiKey

    actor: Any = erasure.requested_by
    if actor is None and erasure.requested_by_key_id is not None:
        actor = ApiKey.objects.filter(pk=erasure.requested_by_key_id).first()
    actor = actor or f"system:erasure_request_{erasure.pk}"
    try:
        return end_user_erase(project=erasure.project, user_id=user_id, actor=actor, erasure=erasure)
    except Exception as exc:
        Erasure.objects.filter(pk=erasure.pk).update(status=ErasureStatus.FAILED, error=str(exc)[:2000],
                                                     finished_at=timezone.now())
        raise


# --- Export -----------------------------------------------------------------------------------------

def _dumps(value: Any) -> str:
    return json.dumps(value, cls=DjangoJSONEncoder, ensure_ascii=False)


_SCORE_FIELDS = ["external_id", "call_id", "name", "value", "label", "source", "comment", "metadata", "created_at"]
_FEEDBACK_FIELDS = ["external_id", "call_id", "thumbs", "rating", "comment", "end_user_id", "metadata", "created_at"]


def _signal(row: dict[str, Any], by_id: dict[int, str]) -> dict[str, Any]:
    out = {k: v for k, v in row.items() if k not in ("call_id", "external_id")}
    out["id"] = row["external_id"]
    return out | {"call_id": by_id.get(row["call_id"], row.get("call_id"))}


def end_user_export(*, project: Any, user_id: str) -> Iterator[str]:
    """One JSON document, produced piece by piece (a user's calls may not fit in memory): the user's
    calls with their payloads, scores and feedback, then the feedback they gave on other calls."""
    from telemetry.models import Call, CallPayload, Feedback, Score
    from telemetry.serializers import _FIELDS

    user_id = _check(user_id)
    yield ("{" + f'"project":{_dumps({"id": project.id, "name": project.name})},"user_id":{_dumps(user_id)},'
           f'"exported_at":{_dumps(timezone.now())},"calls":[')
    last_id, first = 0, True
    while True:
        calls = list(Call.objects.filter(project_id=project.id, user_id=user_id, id__gt=last_id).order_by("id")
                     .values("id", *_FIELDS)[:EXPORT_BATCH])
        if not calls:
            break
        last_id = calls[-1]["id"]
        ids = [c["id"] for c in calls]
        by_id = {c["id"]: c["external_id"] for c in calls}
        payloads = {p["call_id"]: p for p in CallPayload.objects.filter(call_id__in=ids)
                    .values("call_id", "input", "output", "context", "redaction")}
        scores: dict[int, list[dict[str, Any]]] = {}
        for s in Score.objects.filter(call_id__in=ids).order_by("id").values(*_SCORE_FIELDS):
            scores.setdefault(s["call_id"], []).append(_signal(s, by_id))
        feedback: dict[int, list[dict[str, Any]]] = {}
        for f in Feedback.objects.filter(call_id__in=ids).order_by("id").values(*_FEEDBACK_FIELDS):
            feedback.setdefault(f["call_id"], []).append(_signal(f, by_id))
        for c in calls:
            payload = payloads.get(c["id"]) or {}
            doc = call_dict(c) | {"input": payload.get("input"), "output": payload.get("output"),
                                  "context": payload.get("context"), "payload_redaction": payload.get("redaction"),
                                  "scores": scores.get(c["id"], []), "feedback": feedback.get(c["id"], [])}
            yield ("" if first else ",") + _dumps(doc)
            first = False
    yield '],"feedback_given":['
    first = True
    others = (Feedback.objects.filter(project_id=project.id, end_user_id=user_id)
              .exclude(call__user_id=user_id).select_related("call").order_by("id"))
    for f in others.iterator(chunk_size=EXPORT_BATCH):
        doc = {"id": f.external_id, "call_id": f.call.external_id if f.call else f.call_external_id,
               "thumbs": f.thumbs, "rating": f.rating, "comment": f.comment, "metadata": f.metadata,
               "created_at": f.created_at}
        yield ("" if first else ",") + _dumps(doc)
        first = False
    yield "]}"
