"""Reads of the cost, latency and quality pages that the rollup selectors do not answer directly:
per-user daily cost, month-to-date cost, the slowest calls, several scores' trends in one query,
feedback over time and by prompt version. Rollups and indexed queries only, a fixed number each."""
from __future__ import annotations

import calendar
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from django.db import connection

from dashboards.context import Page
from dashboards.selectors import _points, grouped
from dashboards.selectors.people import top_entities_cached
from rollups.selectors import _EPOCH, DAY, Query, _ceil, _floor, _Sql, aggregate
from telemetry.models import Call

SLOWEST_COLUMNS = ["external_id", "start_time", "model", "prompt_version", "feature", "status", "latency_ms",
                   "ttft_ms", "output_tokens"]
# Scores where a higher value is the problem (docs/quality.md); every other score, judges' included,
# reads 1 = good. Used to sort prompt versions worst first.
HIGHER_IS_WORSE = ("pii.", "leakage", "prompt_injection", "toxicity", "refusal", "rules.")
# Scores that count things rather than lie in 0..1: kept off the shared 0..1 trend chart unless chosen.
COUNT_SCORES = {"pii.count", "pii.redacted", "rules.matches"}
# Ratings whose calls are read, at most (the newest of the range; see _latest): for thumbs by prompt
# version, and for thumbs over time when global filters apply. The same rows both times: the
# second read finds them cached.
RATINGS_SAMPLE = 10_000


def higher_is_worse(score: str) -> bool:
    return score.startswith(HIGHER_IS_WORSE)


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
    sql = _Sql(query)
    sql.params["scores"] = names
    with connection.cursor() as cur:
        cur.execute(f"SELECT {sql.point} AS t, score, sum(score_count)::int8, sum(score_sum) FROM rollups_rollup"
                    f" WHERE {sql.where.replace('score = %(score)s', 'score = ANY(%(scores)s)')} GROUP BY 1, 2",
                    sql.params)
        rows = cur.fetchall()
    values = {(score, t): total / count for t, score, count, total in rows if count}
    points = sorted(set(_points(query)) | {t for t, *_ in rows})
    return [{"name": name, "points": [{"t": t, "value": values.get((name, t))} for t in points]} for name in names]


def _feedback_where(page: Page) -> tuple[str, str, dict[str, Any]]:
    """(ratings conditions, conditions on their calls or "TRUE", params) for the range's thumbs.
    The call conditions need a join to telemetry_call: only global filters make one necessary."""
    params: dict[str, Any] = {"project": page.project.id, "start": page.start, "end": page.end}
    ratings = ["f.project_id = %(project)s", "f.created_at >= %(start)s", "f.created_at < %(end)s",
               "f.thumbs IS NOT NULL"]
    calls = []
    for dim, values in page.filters.items():
        params[f"f_{dim}"] = values
        calls.append(f"c.{dim} = ANY(%(f_{dim})s)")
    return " AND ".join(ratings), " AND ".join(calls) or "TRUE", params


def _latest(ratings: str) -> str:
    """A CTE of the range's newest ratings, at most %(cap)s: reading a rating's call (its prompt
    version, or the dimensions a filter names) is a primary-key probe of telemetry_call, ~10 µs
    warm and far more cold, so 100k ratings over 30 days took ~1 s at 10M calls."""
    return (f"WITH latest AS MATERIALIZED (SELECT f.call_id, f.thumbs, f.created_at FROM telemetry_feedback f"
            f" WHERE {ratings} ORDER BY f.created_at DESC LIMIT %(cap)s)")


def thumbs_series(page: Page) -> dict[str, Any]:
    """Thumbs up and down per chart interval by when the feedback arrived, binned like the rollup
    series (feedback_project_time index): {"up", "down", "rate"} as lists of {"t", "value"}, and
    "since": None, or with global filters and more than RATINGS_SAMPLE ratings in the range, the
    time of the oldest rating read (earlier points are None: not counted, rather than zero)."""
    ratings, calls, params = _feedback_where(page)
    params.update(step=page.interval, tz=page.tz, cap=RATINGS_SAMPLE)
    if page.interval == DAY:
        point = "date_trunc('day', f.created_at, %(tz)s)"
    else:
        params["origin"] = _EPOCH.replace(tzinfo=ZoneInfo(page.tz)) if page.interval % DAY == timedelta(0) else _EPOCH
        point = "date_bin(%(step)s, f.created_at, %(origin)s)"
    counts = "count(*) FILTER (WHERE f.thumbs = 1), count(*) FILTER (WHERE f.thumbs = -1)"
    since = None
    with connection.cursor() as cur:
        if not page.filters:  # the ratings alone: one index range, no calls read
            cur.execute(f"SELECT {point}, {counts} FROM telemetry_feedback f WHERE {ratings} GROUP BY 1", params)
            found = {t: (up, down) for t, up, down in cur.fetchall()}
        else:
            cur.execute(f"{_latest(ratings)}, bins AS (SELECT {point} AS t, {counts} FROM latest f"
                        f"  JOIN telemetry_call c ON c.id = f.call_id WHERE {calls} GROUP BY 1)"
                        f" SELECT (SELECT count(*) FROM latest), (SELECT min(created_at) FROM latest), b.*"
                        f" FROM (SELECT 1) AS one LEFT JOIN bins b ON TRUE", params)
            rows = cur.fetchall()
            found = {t: (up, down) for _, _, t, up, down in rows if t is not None}
            since = rows[0][1] if rows[0][0] >= RATINGS_SAMPLE else None
    points = sorted(set(_points(page.query(interval=True))) | set(found))
    first = max((t for t in points if since is not None and t <= since), default=None)  # the bin holding `since`
    zero = (0, 0)
    up, down, rate = [], [], []
    for t in points:
        u, d = found.get(t, zero) if first is None or t >= first else (None, None)
        up.append({"t": t, "value": u})
        down.append({"t": t, "value": d})
        rate.append({"t": t, "value": d / (u + d) if u is not None and d is not None and u + d else None})
    return {"up": up, "down": down, "rate": rate, "since": since}


def prompt_scores(page: Page, score: str) -> dict[tuple[str, str], dict[str, Any]]:
    """{(prompt name, version): {"score_avg", "score_count"}} of one score. Raises MetricsError when
    the global filters name a dimension outside the prompt cube (scores have no every-dimension cube)."""
    result = aggregate(page.query(group_by=("prompt_name", "prompt_version"), score=score),
                       ["score_avg", "score_count"])
    return {(name, version): {"score_avg": values["score_avg"], "score_count": values["score_count"]}
            for (_, name, version), values in result.items()}


def worst_prompts(page: Page, score: str, scores: dict[tuple[str, str], dict[str, Any]], *,
                  limit: int = 10) -> tuple[list[dict[str, Any]], bool]:
    """Prompt versions by the chosen score's average (`scores`, from prompt_scores) and by their
    thumbs-down rate, worst first: by the score, then by thumbs-down rate. Returns (rows, whether
    the thumbs come from the newest RATINGS_SAMPLE ratings rather than all of the range's)."""
    rows = {key: dict(values) for key, values in scores.items()}
    ratings, calls, params = _feedback_where(page)
    params["cap"] = RATINGS_SAMPLE
    with connection.cursor() as cur:
        # Only the newest ratings of the range (see _latest); the global filters apply to those.
        cur.execute(f"{_latest(ratings)}, versions AS (SELECT c.prompt_name, c.prompt_version, count(*) AS rated,"
                    f"  count(*) FILTER (WHERE f.thumbs = -1) AS down FROM latest f"
                    f"  JOIN telemetry_call c ON c.id = f.call_id WHERE {calls} GROUP BY 1, 2)"
                    f" SELECT (SELECT count(*) FROM latest), v.* FROM (SELECT 1) AS one LEFT JOIN versions v ON TRUE",
                    params)
        results = cur.fetchall()
    sampled = results[0][0] >= RATINGS_SAMPLE  # how many were read, whether or not the filters kept them
    for _, name, version, rated, down in results:
        if name is not None:  # the one row of a range without ratings
            rows.setdefault((name, version), {}).update(rated=rated, down=down, down_rate=down / rated)
    sign = 1 if higher_is_worse(score) else -1
    out = [{"prompt_name": name, "prompt_version": version, "score_avg": None, "score_count": 0, "rated": 0,
            "down": 0, "down_rate": None, **values} for (name, version), values in rows.items()]
    out.sort(key=lambda r: (r["score_avg"] is None, -sign * (r["score_avg"] or 0), -(r["down_rate"] or 0),
                            r["prompt_name"], r["prompt_version"]))
    return out[:limit], sampled
