"""Periodic rollup maintenance."""
from __future__ import annotations

from celery import shared_task

from rollups.compact import project_compact, projects_with_parts
from rollups.retention import project_purge
from tenancy.models import Project


@shared_task(name="rollups.tasks.purge_expired")
def purge_expired() -> dict[int, dict[str, int]]:
    return {project.id: project_purge(project=project) for project in Project.objects.all()}


@shared_task(name="rollups.tasks.compact")
def compact() -> dict[int, int]:
    return {project_id: project_compact(project_id=project_id) for project_id in projects_with_parts()}
