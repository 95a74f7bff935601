"""Celery tasks: take ids, call a service."""
from __future__ import annotations

from celery import shared_task

from quality import services

MAX_BATCHES_PER_TASK = 20


@shared_task(name="quality.tasks.evaluate_project", acks_late=True)
def evaluate_project(project_id: int) -> int:
    evaluated = services.project_evaluate_threads(project_id=project_id, max_batches=MAX_BATCHES_PER_TASK)
    if evaluated >= MAX_BATCHES_PER_TASK * services.BATCH_SIZE:
        evaluate_project.delay(project_id)  # a backlog: continue in a fresh task
    return evaluated


@shared_task(name="quality.tasks.sweep")
def sweep() -> list[int]:
    return services.sweep()
