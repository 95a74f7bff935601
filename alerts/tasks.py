"""Celery tasks: beat runs `evaluate` every minute and `deliver` as a sweep; the evaluation also
enqueues `deliver` after committing outbox rows. Both claim their work, so overlaps are safe."""
from __future__ import annotations

from celery import shared_task

from alerts.delivery import notifications_deliver_due
from alerts.evaluation import rules_evaluate_due


@shared_task(ignore_result=True)
def evaluate() -> int:
    return rules_evaluate_due()


@shared_task(ignore_result=True)
def deliver() -> int:
    return notifications_deliver_due()
