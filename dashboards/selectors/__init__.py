"""Reads for the dashboards that the rollup and telemetry selectors do not already answer."""
from __future__ import annotations

from collections import defaultdict
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from typing import Any
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

from django.core.cache import cache
from django.db import connection

from rollups.cubes import CUBES
from rollups.selectors import Query, aggregate
from telemetry.models import Call

_OPTION_DAYS = 31
# Counts that read as 0 (not as a gap) where a chart interval has no rows.
ZERO_MEASURES = {"count", "errors", "unpriced", "thumbs_up", "thumbs_down", "thumbs_count", "feedback_count",
                 "rating_count"}
FEEDBACK_TILES = ["feedback_count", "thumbs_count", "thumbs_down", "thumbs_down_rate", "rating_count", "rating_avg"]


OPTIONS_CACHE_SECONDS = 60


def filter_options(*, project_id: int) -> dict[str, list[str]]:
    """Values each global filter can take: what the project's daily rollups saw in the last month.
    Kept a minute in the cache: the query reads the month's day rows, score rows included (~40 ms
    at 10M calls), on every full page load, and a new model may well take a minute to be offered."""
    key = f"obs:filter-options:v2:{project_id}"
    try:
        cached = cache.get(key)
    except Exception:  # noqa: BLE001 - no cache: compute
        cached = None
    if cached is not None:
        return cached
    options = _filter_options(project_id)
    try:
        cache.set(key, options, OPTIONS_CACHE_SECONDS)
    except Exception:  # noqa: BLE001
        pass
    return options


def _filter_options(project_id: int) -> dict[str, list[str]]:
    dims = sorted({d for name, cube in CUBES.items() if name not in ("total", "all") for d in cube} - {"kind"})
    since = datetime.now(timezone.utc) - timedelta(days=_OPTION_DAYS)
    options: dict[str, set[str]] = defaultdict(set)
    with connection.cursor() as cur:
        cur.execute(
            f"SELECT DISTINCT cube, {', '.join(dims)} FROM rollups_rollup WHERE project_id = %s AND grain = 'd'"
            f" AND bucket >= %s AND score = '' AND cube <> ALL(%s)", [project_id, since, ["total", "all"]])
        for cube, *values in cur.fetchall():
            row = dict(zip(dims, values, strict=True))
            for dim, value in row.items():
                if dim in CUBES[cube] and dim != "prompt_version":
                    options[dim].add(value)
            if cube == "prompt" and row["prompt_version"]:  # with their prompt: see version_pair
                options["prompt_version"].add(version_pair(row["prompt_name"], row["prompt_version"]))
    return {dim: sorted(values) for dim, values in options.items()}


def version_pair(prompt_name: str, version: str) -> str:
    """A prompt version as one filter value, "<prompt>@<version>" (dashboards.context.parse_filters
    splits it at the last "@"): the toolbar's version filter then picks one prompt's version, never
    version 2 of every prompt at once. An empty version stays empty ("(none)")."""
    return f"{prompt_name}@{version}" if version else ""


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
        zero = 0 if measure in ZERO_MEASURES or measure.startswith("tokens") else None
        rows = []
        for group in groups or [()]:
            pts = [{"t": t, "value": values.get((t, *group), {}).get(measure, zero)} for t in points]
            if measure == "cost":
                pts = [{"t": p["t"], "value": p["value"] if p["value"] is not None else Decimal(0)} for p in pts]
            rows.append({"name": group_label(query.group_by, group), "group": group, "points": pts})
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
        rows.append({"name": group_label(query.group_by, group), "group": tuple(group),
                     "filter": group_filter(query.group_by, group), **values})
    return rows


def group_label(dims: tuple[str, ...], group: tuple[Any, ...] | list[Any]) -> str:
    """How a group reads on a page: values joined by " / ", and a prompt version with its prompt
    ("support-answer v2"), since a version number alone names no version at all."""
    parts, values = [], dict(zip(dims, group, strict=True))
    for dim, value in values.items():
        if dim == "prompt_name" and "prompt_version" in values:
            continue
        if dim == "prompt_version":
            name, version = str(values.get("prompt_name") or ""), str(value or "")
            parts.append(f"{name or '(no prompt)'} {'v' if version[:1].isdigit() else ''}{version}" if version
                         else f"{name} (no version)" if name else "(none)")
        else:
            parts.append(str(value) or "(none)")
    return " / ".join(parts)


def group_filter(dims: tuple[str, ...], group: tuple[Any, ...] | list[Any]) -> str:
    """The query string that filters a page to exactly this group (prompt name and version together)."""
    return urlencode([(dim, str(value)) for dim, value in zip(dims, group, strict=True)])


def feedback_totals(query: Query) -> dict[str, Any]:
    """Thumbs and ratings of the calls in the query's range and filters (by each call's start
    time, not by when the feedback arrived), from the feedback rollups: exact for any filters."""
    return aggregate(query, FEEDBACK_TILES).get((None,), dict.fromkeys(FEEDBACK_TILES))


def project_has_calls(*, project_id: int) -> bool:
    """One index probe (call_project_time): whether to show the getting-started page."""
    return Call.objects.filter(project_id=project_id).exists()
