"""What shortening a project's retention would delete, counted from the daily and hourly rollups
(one indexed range sum each, never a count over raw calls), for the confirmation the settings page
asks before saving such a change."""
from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db.models import Sum
from django.utils import timezone

from rollups.models import Rollup
from tenancy.models import Project

# What each retention setting deletes, and the rollup grain that counts it.
_WHAT = {
    "payload_days": ("the inputs and outputs of", "d"),
    "call_days": ("", "d"),
    "hour_rollup_days": ("the hourly chart data of", "h"),
    "day_rollup_days": ("the daily chart data of", "d"),
}


def _calls(project: Project, grain: str, start: datetime, end: datetime) -> int:
    # The "total" cube holds each call once per bucket; score rows ('' for calls) are other measures.
    total = (Rollup.objects.filter(project=project, grain=grain, cube="total", score="", bucket__gte=start,
                                   bucket__lt=end).aggregate(n=Sum("calls"))["n"])
    return int(total or 0)


def retention_losses(*, project: Project, values: dict[str, int | None],
                     now: datetime | None = None) -> list[dict[str, Any]]:
    """One entry per setting `values` shortens: its label data, the old and new days, the cutoff
    and about how many calls lose data (those between the new cutoff and the old one: older ones
    are already gone)."""
    now = now or timezone.now()
    out = []
    for name, (what, grain) in _WHAT.items():
        if name not in values:
            continue
        old = project.retention(name)
        new = values[name] if values[name] is not None else settings.RETENTION_DEFAULTS[name]
        if new >= old:
            continue
        cutoff, old_cutoff = now - timedelta(days=new), now - timedelta(days=old)
        out.append({"name": name, "old": old, "new": new, "cutoff": cutoff, "what": what,
                    "calls": _calls(project, grain, old_cutoff, cutoff)})
    return out
