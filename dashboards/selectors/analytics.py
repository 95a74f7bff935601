"""Reads of the cost, latency and quality pages that the rollup selectors do not answer directly:
per-user daily cost, month-to-date cost, the slowest calls, several scores' trends in one query,
feedback over time and by prompt version, which way is better for a score. Rollups and indexed
queries only, a fixed number each."""
from __future__ import annotations

import calendar
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from django.db import connection

from dashboards.context import Page
from dashboards.selectors import _points, grouped, series_many
from dashboards.selectors.people import top_entities_cached
from quality.selectors import higher_is_worse as _higher_is_worse
from quality.selectors import score_directions
from rollups.selectors import DAY, Query, _ceil, _floor, _Sql, aggregate
from telemetry.models import Call, ScoreSource

SLOWEST_COLUMNS = ["external_id", "start_time", "model", "prompt_name", "prompt_version", "feature", "status", "latency_ms",
                   "ttft_ms", "output_tokens"]
# Scores that count things rather than lie in 0..1: kept off the shared 0..1 trend chart unless chosen
# (`pii.redacted` is written at ingest, so it is rolled up as a client score of source "heuristic").
COUNT_SCORES = {"pii.count", "heuristic:pii.redacted", "rules.matches"}


def plain_name(score: str) -> str:
    """The name a client score was sent with (`human:helpfulness` -> `helpfulness`); an evaluator's
    score name as is. Rollups keep client scores under `<source>:<name>` (rollups/signals.py)."""
    source, sep, name = score.partition(":")
    return name if sep and source in ScoreSource.values else score


def directions(project_id: int) -> Callable[[str], bool]:
    """A "is higher worse?" test for the project's scores, reading its custom directions once. A
    client score goes by the name it was sent with, as the project's directions are keyed."""
    custom = score_directions(project_id=project_id)
    return lambda score: _higher_is_worse(project_id=project_id, name=plain_name(score), custom=custom)


def user_cost_series(page: Page, users: list[str]) -> list[dict[str, Any]]:
    """Daily cost of the given users (the top of the users table) and of everyone else, over the
    whole UTC days covering the range: [{"name", "points": [{"t", "value"}]}] in `users` order,
    then "everyone else". Users carry no other dimension, so the global filters do not apply;
    everyone else is the project's daily cost from the rollups minus the listed users', so the
    stack adds up to the whole (calls without a user id included)."""
    lo, hi = _floor(page.start, DAY), _ceil(page.end, DAY)
    days = [lo + i * DAY for i in range((hi - lo) // DAY)]
    with connection.cursor() as cur:
        # Equality on both bucket and key: a few hundred probes of entityrollup_key instead of
        # reading every user's days (600k rows for 30 days at 20k users).
        cur.execute("SELECT bucket, key, cost_usd FROM rollups_entityrollup WHERE project_id = %s AND entity = 'user'"
                    " AND bucket = ANY(%s) AND key = ANY(%s)", [page.project.id, days, users])
        values = {(key, bucket): cost for bucket, key, cost in cur.fetchall()}
    totals = aggregate(Query(project_id=page.project.id, start=lo, end=hi, interval=DAY), ["cost"])
    series = [{"name": key, "points": [{"t": day, "value": values.get((key, day), Decimal(0))} for day in days]}
              for key in users]
    # Never below zero: the two tables are purged by retention separately.
    rest = [{"t": day, "value": max(totals.get((day,), {}).get("cost", Decimal(0))
                                    - sum(values.get((key, day), Decimal(0)) for key in users), Decimal(0))}
            for day in days]
    return [*series, {"name": "everyone else", "points": rest}]


def top_users(page: Page, *, limit: int = 10) -> list[dict[str, Any]]:
    # The tops the users & sessions page keeps warm (dashboards.tasks.warm_top_entities): grouping
    # every user's days of a month takes ~1 s at 10M calls.
    return top_entities_cached(project_id=page.project.id, entity="user", start=page.start, end=page.end,
                               order="cost", limit=25)[:limit]


def feature_costs(page: Page) -> list[dict[str, Any]]:
    """Features by cost, with cost per priced call (unpriced calls cost nothing, so they would
    make a feature look cheaper than it is)."""
    rows = grouped(page.query(group_by=("feature",)), ["count", "cost", "unpriced", "tokens_total"])
    for row in rows:
        priced = row["count"] - row["unpriced"]
        row["per_call"] = row["cost"] / priced if priced else None
    return sorted(rows, key=lambda r: (-r["cost"], r["name"]))


def unpriced_models(page: Page) -> list[dict[str, Any]]:
    rows = grouped(page.query(group_by=("provider", "model")), ["count", "unpriced"])
    return sorted((r for r in rows if r["unpriced"]), key=lambda r: (-r["unpriced"], r["name"]))


def month_bounds(now: datetime, tz: str) -> tuple[datetime, datetime]:
    """The calendar month holding `now` in the viewer's time zone, as UTC instants."""
    local = now.astimezone(ZoneInfo(tz))
    start = local.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    end = (start.replace(tzinfo=None) + timedelta(days=calendar.monthrange(local.year, local.month)[1]))
    return start.astimezone(timezone.utc), end.replace(tzinfo=ZoneInfo(tz)).astimezone(timezone.utc)


def month_projection(spent: Decimal, now: datetime, tz: str) -> dict[str, Any]:
    """Month-to-date spend and a straight-line projection to the month's end: spent / the share of
    the month elapsed. Elapsed time is measured in real seconds, so a DST change counts truly."""
    start, end = month_bounds(now, tz)
    fraction = (now - start) / (end - start)
    return {"start": start, "end": end, "spent": spent, "fraction": fraction,
            "days_elapsed": (now - start) / DAY, "days": round((end - start) / DAY),
            "projection": spent / Decimal(str(fraction)) if fraction > 0 else None}


def month_to_date(page: Page, now: datetime) -> dict[str, Any]:
    """This calendar month's cost so far (the viewer's month, whatever range is shown), for the
    global filters, and its projection. `now` is passed in so tests can fix the clock."""
    start, _ = month_bounds(now, page.tz)
    spent = aggregate(Query(project_id=page.project.id, start=start, end=now, filters=page.filters, tz=page.tz),
                      ["cost"]).get((None,), {}).get("cost") or Decimal(0)
    return month_projection(spent, now, page.tz)


def slowest_calls(page: Page, *, limit: int = 20) -> list[dict[str, Any]]:
    """The slowest model calls of the range that match the global filters: an indexed top-N
    (call_project_latency on (project, -latency_ms)), the one read of raw calls on these pages."""
    return list(Call.objects.filter(
        project_id=page.project.id, start_time__gte=page.start, start_time__lt=page.end,
        kind__in=("llm", "embedding"), latency_ms__isnull=False,
        **{f"{dim}__in": values for dim, values in page.filters.items()},
    ).order_by("-latency_ms").values(*SLOWEST_COLUMNS)[:limit])


def score_trends(page: Page, names: list[str]) -> list[dict[str, Any]]:
    """score_avg over time for several scores in one query: [{"name", "points"}] in `names` order.
    The rollup selectors fix one score per query; this reuses their WHERE clause (same buckets,
    cube and filters, so MetricsError for a several-cube filter) with the score as a list."""
    if not names:
        return []
    query = page.query(interval=True, score=names[0])
    sql = _Sql(query, scores=names)
    with connection.cursor() as cur:
        cur.execute(f"SELECT {sql.point} AS t, score, sum(score_count)::int8, sum(score_sum) FROM rollups_rollup"
                    f" WHERE {sql.where} GROUP BY 1, 2", sql.params)
        rows = cur.fetchall()
    values = {(score, t): total / count for t, score, count, total in rows if count}
    points = sorted(set(_points(query)) | {t for t, *_ in rows})
    return [{"name": name, "points": [{"t": t, "value": values.get((name, t))} for t in points]} for name in names]


def thumbs_series(page: Page) -> dict[str, list[dict[str, Any]]]:
    """Thumbs up and down per chart interval, by the start time of the calls rated (the feedback
    rollups, any filters): {"up", "down", "rate"} as lists of {"t", "value"}."""
    values = series_many(page.query(interval=True), ["thumbs_up", "thumbs_down", "thumbs_down_rate"])
    return {key: values[measure][0]["points"] for key, measure in
            (("up", "thumbs_up"), ("down", "thumbs_down"), ("rate", "thumbs_down_rate"))}


def prompt_scores(page: Page, score: str) -> dict[tuple[str, str], dict[str, Any]]:
    """{(prompt name, version): {"score_avg", "score_count"}} of one score. Raises MetricsError when
    the global filters name a dimension outside the prompt cube (scores have no every-dimension cube)."""
    result = aggregate(page.query(group_by=("prompt_name", "prompt_version"), score=score),
                       ["score_avg", "score_count"])
    return {(name, version): {"score_avg": values["score_avg"], "score_count": values["score_count"]}
            for (_, name, version), values in result.items()}


def worst_prompts(page: Page, score: str, scores: dict[tuple[str, str], dict[str, Any]], *,
                  limit: int = 10) -> list[dict[str, Any]]:
    """Prompt versions by the chosen score's average (`scores`, from prompt_scores) and by their
    thumbs-down rate, worst first: by the score, then by thumbs-down rate. Thumbs come from the
    feedback rollups (the prompt cube, or every dimension with other filters): every rating counts."""
    rows = {key: dict(values) for key, values in scores.items()}
    for row in grouped(page.query(group_by=("prompt_name", "prompt_version")),
                       ["thumbs_count", "thumbs_down", "thumbs_down_rate"]):
        if row["thumbs_count"]:
            rows.setdefault(row["group"], {}).update(rated=row["thumbs_count"], down=row["thumbs_down"],
                                                     down_rate=row["thumbs_down_rate"])
    sign = 1 if score and directions(page.project.id)(score) else -1
    out = [{"prompt_name": name, "prompt_version": version, "score_avg": None, "score_count": 0, "rated": 0,
            "down": 0, "down_rate": None, **values} for (name, version), values in rows.items()]
    out.sort(key=lambda r: (r["score_avg"] is None, -sign * (r["score_avg"] or 0), -(r["down_rate"] or 0),
                            r["prompt_name"], r["prompt_version"]))
    return out[:limit]
