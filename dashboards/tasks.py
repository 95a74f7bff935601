"""Celery tasks of the dashboards: keeping slow-to-group figures warm for the preset ranges."""
from __future__ import annotations

from datetime import datetime, timezone

from celery import shared_task

from dashboards.context import RANGES
from dashboards.selectors.people import top_entities_cached
from dashboards.views.people import TOP
from rollups.models import EntityRollup
from tenancy.models import Project


@shared_task(name="dashboards.tasks.warm_top_entities")
def warm_top_entities() -> int:
    """Recompute the users & sessions tops of every project active today, for each preset range
    (they differ only by the UTC days they cover). Returns the tops refreshed."""
    now = datetime.now(timezone.utc)
    today = now.replace(hour=0, minute=0, second=0, microsecond=0)
    refreshed = 0
    for project_id in Project.objects.values_list("id", flat=True):
        if not EntityRollup.objects.filter(project_id=project_id, entity="user", bucket=today).exists():
            continue
        seen: set[tuple[str, datetime]] = set()
        for _, span, _ in RANGES.values():
            start = now - span
            for entity in ("user", "session"):
                first_day = start.replace(hour=0, minute=0, second=0, microsecond=0)
                if (entity, first_day) in seen:
                    continue
                seen.add((entity, first_day))
                top_entities_cached(project_id=project_id, entity=entity, start=start, end=now, order="cost",
                                    limit=TOP, refresh=True)
                refreshed += 1
    return refreshed
