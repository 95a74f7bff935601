"""Celery tasks: take ids, call a service."""
from __future__ import annotations

from datetime import timedelta

from celery import shared_task
from django.utils import timezone

from review import routing
from review.models import Backfill

STEPS_PER_TASK = 20


@shared_task(name="review.tasks.backfill_run", acks_late=True)
def backfill_run(backfill_id: int) -> int:
    """Advance a backfill by up to STEPS_PER_TASK batches; continue in a fresh task if more remains."""
    steps = 0
    while steps < STEPS_PER_TASK and routing.backfill_step(backfill_id=backfill_id):
        steps += 1
    if steps == STEPS_PER_TASK:
        backfill_run.delay(backfill_id)
    return steps


@shared_task(name="review.tasks.sweep")
def sweep() -> list[int]:
    """Backfills whose message was lost (broker down, worker killed): run them again."""
    stale = list(Backfill.objects.filter(finished_at__isnull=True,
                                         created_at__lt=timezone.now() - timedelta(minutes=2))
                 .values_list("id", flat=True)[:100])
    for backfill_id in stale:
        backfill_run.delay(backfill_id)
    return stale
