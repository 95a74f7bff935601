"""Celery tasks: beat runs `evaluate` every minute and `deliver` as a sweep; the evaluation also
enqueues `deliver` after committing outbox rows. Both claim their work, so overlaps are safe."""
from __future__ import annotations

from datetime import datetime

from celery import shared_task

from alerts.delivery import notifications_deliver_due
from alerts.evaluation import rules_evaluate_due


@shared_task(ignore_result=True)
def evaluate(now: str | None = None) -> int:
    """Beat sends it without arguments; `now` (ISO 8601) evaluates as of another minute (tests,
    catching up after an outage)."""
    return rules_evaluate_due(now=datetime.fromisoformat(now) if now else None)


@shared_task(ignore_result=True)
def deliver() -> int:
    return notifications_deliver_due()
