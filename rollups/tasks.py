"""Periodic rollup maintenance, and folding feedback and client scores (rollups/signals.py)."""
from __future__ import annotations

from celery import shared_task

from rollups.compact import project_compact, projects_with_parts
from rollups.retention import project_purge
from rollups.signals import backlog_remains, project_signals_fold, projects_with_signals
from tenancy.models import Project


@shared_task(name="rollups.tasks.purge_expired")
def purge_expired() -> dict[int, dict[str, int]]:
    return {project.id: project_purge(project=project) for project in Project.objects.all()}


@shared_task(name="rollups.tasks.compact")
def compact() -> dict[int, int]:
    """Beat, every OBSERVATORY_COMPACT_SECONDS: merge parts, and (the signals' sweeper) ask for a
    fold of signals queued for a while, whose message was lost or whose calls came late."""
    for project_id in projects_with_signals():
        fold_signals.delay(project_id)
    return {project_id: project_compact(project_id=project_id) for project_id in projects_with_parts()}


@shared_task(name="rollups.tasks.fold_signals", acks_late=True)
def fold_signals(project_id: int) -> int:
    consumed = project_signals_fold(project_id=project_id)
    if backlog_remains(consumed=consumed):
        fold_signals.delay(project_id)  # a backlog (the upgrade's backfill): continue in a fresh task
    return consumed
