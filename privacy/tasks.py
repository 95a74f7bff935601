"""Celery tasks: take ids, call a service."""
from __future__ import annotations

from celery import shared_task


@shared_task(name="privacy.tasks.erase_end_user", acks_late=True)
def erase_end_user(erasure_id: int, user_id: str) -> dict[str, int] | None:
    # Idempotent: a redelivered message (worker killed mid-way) resumes the erasure where it stopped.
    from privacy.services import erasure_run

    return erasure_run(erasure_id=erasure_id, user_id=user_id)
