"""Reviewing: claim the next item (a lock for the queue's minutes), skip it, submit a verdict.
A verdict's answers become telemetry scores with source `human`, one per rubric question, named
`review.<queue slug>.<question>`; rollups fold them like every client score (`human:review....`)."""
from __future__ import annotations

import json
import time
from datetime import timedelta
from typing import Any

from django.db import connection, transaction
from django.utils import timezone

from review.errors import Conflict, Forbidden, Invalid
from review.models import OPEN_STATUSES, Assignment, Item, ItemStatus, Queue, Skip, Verdict
from review.rubric import RubricError, answer_score, answers_validate
from telemetry.models import Score, ScoreSource

# The claim: ids first in a MATERIALIZED CTE (STYLE.md point 11), walking the open-items index of
# the queue oldest first, skipping rows other reviewers are claiming (SKIP LOCKED), items locked by
# someone else, and items this reviewer answered or skipped; then the update of exactly that id.
_CLAIM_SQL = """
WITH picked AS MATERIALIZED (
    SELECT i.id FROM review_item i
    WHERE i.queue_id = %(queue)s AND i.status IN ('pending', 'in_review')
      AND (i.locked_until IS NULL OR i.locked_until < %(now)s)
      AND NOT EXISTS (SELECT 1 FROM review_verdict v WHERE v.item_id = i.id AND v.reviewer_id = %(user)s)
      AND NOT EXISTS (SELECT 1 FROM review_skip s WHERE s.item_id = i.id AND s.reviewer_id = %(user)s)
      {turn}
    ORDER BY i.created_at, i.id
    LIMIT 1 FOR UPDATE SKIP LOCKED
)
UPDATE review_item i SET status = 'in_review', locked_by_id = %(user)s, locked_until = %(until)s
FROM picked WHERE i.id = picked.id
RETURNING i.*
"""
_VERDICT_SQL = """
INSERT INTO review_verdict (item_id, queue_id, reviewer_id, answers, corrected_output, comment, created_at)
VALUES (%s, %s, %s, %s::jsonb, %s, %s, %s)
ON CONFLICT (item_id, reviewer_id) DO NOTHING
RETURNING id
"""
# Round-robin: member k of n (sorted ids) takes the items whose id mod n is k, and the next
# per-item reviewers after it, so N reviewers per item are N consecutive members.
_TURN = "AND ((%(k)s - i.id %% %(n)s + %(n)s) %% %(n)s) < %(per)s"


def item_claim_next(*, queue: Queue, user: Any) -> Item | None:
    """The item this reviewer holds (a reload resumes it), else the oldest open item they may take,
    locked for `queue.lock_minutes`. None when nothing is left for them."""
    now = timezone.now()
    held = (Item.objects.filter(locked_by=user, queue=queue, locked_until__gt=now, status__in=OPEN_STATUSES)
            .order_by("created_at", "id").first())
    if held is not None:
        return held
    params: dict[str, Any] = {"queue": queue.id, "user": user.pk, "now": now,
                              "until": now + timedelta(minutes=queue.lock_minutes)}
    turn = ""
    if queue.assignment == Assignment.ROUND_ROBIN:
        members = sorted(queue.members.values_list("id", flat=True))
        if user.pk not in members:
            return None
        turn = _TURN
        params.update(k=members.index(user.pk), n=len(members), per=queue.reviewers_per_item)
    with transaction.atomic():  # the claimed row comes back whole: no second read
        claimed = list(Item.objects.raw(_CLAIM_SQL.format(turn=turn), params))
    return claimed[0] if claimed else None


def item_release(*, item: Item, user: Any) -> None:
    """Give back a lock without skipping (leaving the page)."""
    Item.objects.filter(pk=item.pk, locked_by=user, status=ItemStatus.IN_REVIEW).update(
        status=ItemStatus.PENDING, locked_by=None, locked_until=None)


def item_skip(*, item: Item, user: Any) -> None:
    """Pass: the item returns to the pool for the others, and is not offered to this reviewer again."""
    with transaction.atomic():
        Skip.objects.bulk_create([Skip(item=item, reviewer=user, created_at=timezone.now())], ignore_conflicts=True)
        Item.objects.filter(pk=item.pk, locked_by=user).update(
            status=ItemStatus.PENDING if item.status in OPEN_STATUSES else item.status, locked_by=None,
            locked_until=None)


def _disagree(rubric: list[dict[str, Any]], verdicts: list[Verdict]) -> bool:
    for question in rubric:
        if question["kind"] == "text":
            continue
        given = {repr(v.answers.get(question["name"])) for v in verdicts if question["name"] in v.answers}
        if len(given) > 1:
            return True
    return False


def verdict_submit(*, item_id: int, queue: Queue, user: Any, answers: Any, corrected_output: Any = "",
                   comment: Any = "") -> Verdict:
    """Record a reviewer's verdict and its human scores. The item completes after the queue's
    reviewers per item; with several reviewers who disagree on a question it is `escalated`."""
    try:
        clean = answers_validate(queue.rubric, answers)
    except RubricError as exc:
        raise Invalid(exc.field, str(exc)) from None
    for field, value in (("corrected_output", corrected_output), ("comment", comment)):
        if value is not None and not isinstance(value, str):
            raise Invalid(field, "a text")
    now = timezone.now()
    with transaction.atomic():
        item = (Item.objects.select_for_update().select_related("call").filter(pk=item_id, queue=queue).first())
        if item is None:
            raise Conflict("item", "no such item in this queue")
        if item.status not in OPEN_STATUSES:
            raise Conflict("item", "this item is already complete")
        if item.locked_by_id not in (None, user.pk) and item.locked_until and item.locked_until > now:
            raise Conflict("item", "another reviewer holds this item; open the next one")
        if queue.assignment == Assignment.ROUND_ROBIN and not queue.members.filter(pk=user.pk).exists():
            raise Forbidden("item", "this queue is round-robin over chosen members, and you are not one")
        verdict = Verdict(item=item, queue=queue, reviewer=user, answers=clean,
                          corrected_output=(corrected_output or "")[:200_000], comment=(comment or "")[:10_000],
                          created_at=now)
        # ON CONFLICT DO NOTHING rather than a savepoint around the insert: two round trips fewer.
        with connection.cursor() as cur:
            cur.execute(_VERDICT_SQL, [item.id, queue.id, user.pk, json.dumps(clean), verdict.corrected_output,
                                       verdict.comment, now])
            row = cur.fetchone()
        if row is None:
            raise Conflict("item", "you already reviewed this item")
        verdict.pk = row[0]
        item.submissions += 1
        item.locked_by, item.locked_until = None, None
        if item.submissions >= queue.reviewers_per_item:
            verdicts = list(item.verdicts.all()) if queue.reviewers_per_item > 1 else [verdict]
            item.status = ItemStatus.ESCALATED if len(verdicts) > 1 and _disagree(queue.rubric, verdicts) \
                else ItemStatus.DONE
            item.done_at = now
        else:
            item.status = ItemStatus.PENDING
        item.save(update_fields=["submissions", "locked_by", "locked_until", "status", "done_at"])
        _scores_write(item=item, queue=queue, verdict=verdict, user=user)
        project_id = queue.project_id
        transaction.on_commit(lambda: _fold_request(project_id))
    return verdict


def item_resolve(*, item_id: int, queue: Queue, user: Any, answers: Any, corrected_output: Any = "",
                 comment: Any = "") -> Item:
    """An admin's final verdict on an escalated item (reviewers disagreed): the item becomes done and
    datasets take these answers. Checked against the rubric like any verdict; writes no scores (the
    reviewers' scores stay: they are what people answered)."""
    try:
        clean = answers_validate(queue.rubric, answers)
    except RubricError as exc:
        raise Invalid(exc.field, str(exc)) from None
    for field, value in (("corrected_output", corrected_output), ("comment", comment)):
        if value is not None and not isinstance(value, str):
            raise Invalid(field, "a text")
    with transaction.atomic():
        item = Item.objects.select_for_update().filter(pk=item_id, queue=queue).first()
        if item is None:
            raise Conflict("item", "no such item in this queue")
        if item.status != ItemStatus.ESCALATED:
            raise Conflict("item", "only an escalated item (its reviewers disagree) takes a final verdict")
        item.resolution = {"answers": clean, "corrected_output": (corrected_output or "")[:200_000],
                           "comment": (comment or "")[:10_000], "by": getattr(user, "username", ""),
                           "at": timezone.now().isoformat()}
        item.status = ItemStatus.DONE
        item.save(update_fields=["resolution", "status"])
    return item


def score_name(queue: Queue, question: str) -> str:
    return f"review.{queue.slug}.{question}"[:100]


def _scores_write(*, item: Item, queue: Queue, verdict: Verdict, user: Any) -> None:
    rows = []
    for question in queue.rubric:
        if question["name"] not in verdict.answers:
            continue
        scored = answer_score(question, verdict.answers[question["name"]])
        if scored is None:
            continue
        value, label = scored
        rows.append(Score(
            project_id=queue.project_id, external_id=f"review:{item.id}:{user.pk}:{question['name']}"[:255],
            call_id=item.call_id, call_external_id=item.call.external_id, name=score_name(queue, question["name"]),
            value=value, label=label, source=ScoreSource.HUMAN, comment=verdict.comment[:2000],
            metadata={"queue": queue.id, "item": item.id, "reviewer": getattr(user, "username", "")},
            created_at=verdict.created_at))
    # The rollups' signal trigger queues these rows; rollups.signals folds them as human:<name>.
    Score.objects.bulk_create(rows)


# A reviewer submits every few seconds: this process asks for a fold at most once a second per
# project, before telemetry's own debounce (a Redis round trip) is even asked.
FOLD_EVERY_SECONDS = 1.0
_fold_asked: dict[int, float] = {}


def _fold_request(project_id: int) -> None:
    """Fold the new human scores soon: a processing run folds queued signals after it (rollups'
    after-run hook), and telemetry's request is debounced per project and behind the broker's
    circuit breaker, so a reviewer's submit costs a cache write, not a broker round trip each time.
    Beat's rollups.tasks.compact folds them anyway if the message is lost."""
    from telemetry.services import processing_request

    now = time.monotonic()
    if now - _fold_asked.get(project_id, -FOLD_EVERY_SECONDS) < FOLD_EVERY_SECONDS:
        return
    _fold_asked[project_id] = now
    try:
        processing_request(project_id=project_id)
    except Exception:  # noqa: BLE001 - broker down: the sweep folds them later
        pass
