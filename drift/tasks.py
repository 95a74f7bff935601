"""Celery tasks: take ids, call a service."""
from __future__ import annotations

from celery import shared_task

from drift import services


@shared_task(name="drift.tasks.schedule")
def schedule() -> list[int]:
    """Beat, every few minutes: one run per project per OBSERVATORY_DRIFT_INTERVAL_MINUTES."""
    return services.drift_schedule()


@shared_task(name="drift.tasks.run_drift", acks_late=True)
def run_drift(run_id: int) -> int | None:
    run = services.drift_run_execute(run_id=run_id)
    return run.id if run else None
