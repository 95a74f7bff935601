"""Celery tasks: take ids, call a service."""
from __future__ import annotations

from celery import shared_task

from telemetry import services


@shared_task(name="telemetry.tasks.process_project", acks_late=True)
def process_project(project_id: int) -> int:
    return services.project_process(project_id=project_id)


@shared_task(name="telemetry.tasks.sweep")
def sweep() -> list[int]:
    return services.sweep()
