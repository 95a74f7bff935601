"""Reads for the dashboards that the rollup and telemetry selectors do not already answer."""
from __future__ import annotations

from collections import defaultdict
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from django.db import connection
from django.db.models import Count, Q

from rollups.cubes import CUBES
from rollups.selectors import Query, aggregate
from telemetry.models import Call, Feedback

_OPTION_DAYS = 31


def filter_options(*, project_id: int) -> dict[str, list[str]]:
    """Values each global filter can take: what the project's daily rollups saw in the last month.
    One query over the single-dimension cubes' day rows (a few hundred rows at 10M calls)."""
    dims = sorted({d for name, cube in CUBES.items() if name not in ("total", "all") for d in cube} - {"kind"})
    since = datetime.now(timezone.utc) - timedelta(days=_OPTION_DAYS)
    options: dict[str, set[str]] = defaultdict(set)
    with connection.cursor() as cur:
        cur.execute(
            f"SELECT DISTINCT cube, {', '.join(dims)} FROM rollups_rollup WHERE project_id = %s AND grain = 'd'"
            f" AND bucket >= %s AND score = '' AND cube <> ALL(%s)", [project_id, since, ["total", "all"]])
        for cube, *values in cur.fetchall():
            for dim, value in zip(dims, values):
                if dim in CUBES[cube]:
                    options[dim].add(value)
    return {dim: sorted(values) for dim, values in options.items()}


def series_many(query: Query, measures: list[str]) -> dict[str, list[dict[str, Any]]]:
    """Several measures of one interval query in one pass: {measure: [{"name", "group", "points"}]},
    one entry per group (a single unnamed one without group_by), points filled over the whole
    range so gaps read as zero calls rather than a line drawn across them."""
    values = aggregate(query, measures)
    # Generated points fill the gaps; keys from the database win where a zone's DST shift moves a bin.
    points = sorted(set(_points(query)) | {key[0] for key in values})
    groups = sorted({key[1:] for key in values}, key=lambda g: tuple(str(v) for v in g))
    out: dict[str, list[dict[str, Any]]] = {}
    for measure in measures:
        zero = 0 if measure in ("count", "errors", "unpriced") or measure.startswith("tokens") else None
        rows = []
        for group in groups or [()]:
            pts = [{"t": t, "value": values.get((t, *group), {}).get(measure, zero)} for t in points]
            if measure == "cost":
                pts = [{"t": p["t"], "value": p["value"] if p["value"] is not None else Decimal(0)} for p in pts]
            rows.append({"name": " / ".join(str(v) or "(none)" for v in group), "group": group, "points": pts})
        out[measure] = rows
    return out


def _points(query: Query) -> list[datetime]:
    """Every interval start the series should show, in the query's time zone."""
    from rollups.selectors import _EPOCH  # the bins' origin, so our points match the query's

    assert query.interval is not None
    zone = ZoneInfo(query.tz)
    if query.interval >= timedelta(days=1):
        origin = _EPOCH.replace(tzinfo=zone)
        start = query.start.astimezone(zone)
        first = origin + ((start.replace(tzinfo=None) - origin.replace(tzinfo=None)) // query.interval) * query.interval
        first = first.replace(tzinfo=zone)
        out, when = [], first
        while when < query.end:
            out.append(when.astimezone(timezone.utc))
            when = (when.replace(tzinfo=None) + query.interval).replace(tzinfo=zone)
        return out
    first = _EPOCH + ((query.start - _EPOCH) // query.interval) * query.interval
    count = int((query.end - first) / query.interval) + 1
    return [first + i * query.interval for i in range(count) if first + i * query.interval < query.end]


def grouped(query: Query, measures: list[str]) -> list[dict[str, Any]]:
    """One row per group over the whole range: [{"name", "group", measure: value, ...}]."""
    rows = []
    for (_, *group), values in aggregate(query, measures).items():
        rows.append({"name": " / ".join(str(v) or "(none)" for v in group), "group": tuple(group), **values})
    return rows


# With dimension filters each rating must be joined to its call (feedback is not rolled up): at
# 100k ratings a month that join took ~1.4 s, so filtered figures use the newest ratings only.
FEEDBACK_FILTERED_CAP = 5000


def feedback_totals(*, project_id: int, start: datetime, end: datetime,
                    filters: dict[str, list[str]]) -> dict[str, int]:
    """Thumbs up/down given in the range (by when the feedback arrived), for calls matching the
    global filters. Served by telemetry's feedback_project_time index. With filters, only the
    newest FEEDBACK_FILTERED_CAP ratings of the range are joined; `capped` says when that applied."""
    qs = Feedback.objects.filter(project_id=project_id, created_at__gte=start, created_at__lt=end)
    capped = False
    if filters:
        newest = qs.order_by("-created_at").values("id")
        capped = newest[FEEDBACK_FILTERED_CAP:FEEDBACK_FILTERED_CAP + 1].exists()
        qs = Feedback.objects.filter(id__in=newest[:FEEDBACK_FILTERED_CAP]).filter(
            **{f"call__{dim}__in": values for dim, values in filters.items()})
    totals = qs.aggregate(up=Count("id", filter=Q(thumbs=1)), down=Count("id", filter=Q(thumbs=-1)),
                          rated=Count("id", filter=Q(thumbs__isnull=False)))
    return {**{name: int(value or 0) for name, value in totals.items()}, "capped": capped}


def project_has_calls(*, project_id: int) -> bool:
    """One index probe (call_project_time): whether to show the getting-started page."""
    return Call.objects.filter(project_id=project_id).exists()
