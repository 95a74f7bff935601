"""Celery tasks: take ids, call a service."""
from __future__ import annotations

from celery import shared_task

from telemetry import services

MAX_BATCHES_PER_TASK = 20


@shared_task(name="telemetry.tasks.process_project", acks_late=True)
def process_project(project_id: int) -> int:
    processed = services.project_process(project_id=project_id, max_batches=MAX_BATCHES_PER_TASK)
    if services.backlog_remains(processed=processed, max_batches=MAX_BATCHES_PER_TASK):
        # A backlog (catch-up after an outage, a bulk load): continue in a fresh task so one task
        # never runs for long and other projects get their turn.
        process_project.delay(project_id)
    return processed


@shared_task(name="telemetry.tasks.sweep")
def sweep() -> list[int]:
    return services.sweep()


INDEX_BATCHES_PER_TASK = 200


@shared_task(name="telemetry.tasks.index_payloads")
def index_payloads() -> int:
    """Beat runs this every OBSERVATORY_SEARCH_INDEX_SECONDS; a backlog continues in a new task."""
    indexed = services.payloads_index(max_batches=INDEX_BATCHES_PER_TASK)
    if indexed >= services.SEARCH_BATCH * INDEX_BATCHES_PER_TASK:
        index_payloads.delay()
    return indexed
