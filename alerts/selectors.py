"""Reads for the alerts page, the incident page and the API."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

from django.db.models import Count, Prefetch, Q, QuerySet

from alerts.models import Channel, DeliveryAttempt, Incident, Notification, Rule, RuleInstance, Silence, StateEvent
from rollups.cubes import choose_cube
from rollups.selectors import MetricsError, Query, series, unit_of

STATE_ORDER = ["firing", "no_data", "pending", "error", "resolved", "ok"]


def rules_for(*, project_id: int) -> QuerySet[Rule]:
    return (Rule.objects.filter(project_id=project_id).order_by("name", "id")
            .prefetch_related("routes", Prefetch("instances", queryset=RuleInstance.objects.order_by("group_key"))))


def rule_state(rule: Rule) -> str:
    """The worst state among the rule's instances (prefetched), 'ok' without any."""
    states = {i.state for i in rule.instances.all()}
    return next((s for s in STATE_ORDER if s in states), "ok")


def incidents_for(*, project_id: int, open_only: bool = False, limit: int = 50) -> QuerySet[Incident]:
    qs = Incident.objects.filter(project_id=project_id).select_related("rule", "acknowledged_by")
    if open_only:
        qs = qs.filter(resolved_at__isnull=True).order_by("-opened_at")
    else:
        qs = qs.order_by("-opened_at")
    return qs[:limit]


def channels_for(*, project_id: int) -> QuerySet[Channel]:
    return Channel.objects.filter(project_id=project_id).order_by("name", "id").annotate(
        failures=Count("attempts", filter=Q(attempts__ok=False)))


def silences_active(*, project_id: int) -> QuerySet[Silence]:
    return (Silence.objects.filter(project_id=project_id, ends_at__gt=datetime.now(timezone.utc))
            .select_related("rule", "created_by").order_by("ends_at"))


def incident_timeline(*, incident: Incident) -> list[dict[str, Any]]:
    """State changes and delivery attempts of an incident, oldest first."""
    items: list[dict[str, Any]] = [{"at": e.at, "type": "state", "event": e}
                                   for e in StateEvent.objects.filter(incident=incident).order_by("at", "id")]
    notifications = Notification.objects.filter(incident=incident).select_related("channel")
    for attempt in DeliveryAttempt.objects.filter(notification__in=notifications).select_related(
            "notification", "channel").order_by("at"):
        items.append({"at": attempt.at, "type": "delivery", "attempt": attempt})
    items.sort(key=lambda item: item["at"])
    return items


def channel_attempts(*, channel: Channel, limit: int = 20) -> QuerySet[DeliveryAttempt]:
    return DeliveryAttempt.objects.filter(channel=channel).select_related("notification").order_by("-at")[:limit]


CHART_STEPS = [timedelta(minutes=m) for m in (1, 5, 15)] + [timedelta(hours=h) for h in (1, 6)] + [timedelta(days=1)]
# The dimensions the calls explorer filters by (the dashboards' global filters).
EXPLORER_DIMENSIONS = ("model", "provider", "prompt_name", "prompt_version", "feature", "team", "environment", "status")


def incident_span(incident: Incident, now: datetime) -> tuple[datetime, datetime]:
    """The incident's breaching time: one window before it opened until it resolved (or now)."""
    window = timedelta(seconds=incident.rule.window_seconds)
    return incident.opened_at - window, max(incident.resolved_at or now, incident.opened_at + timedelta(minutes=1))


def incident_filters(incident: Incident) -> dict[str, list[str]]:
    """The rule's filters narrowed to the incident's group value."""
    filters = {dim: list(values) for dim, values in incident.rule.filters.items()}
    for dim, value in incident.group.items():
        filters[dim] = [value]
    return filters


def incident_chart(incident: Incident, now: datetime) -> dict[str, Any] | None:
    """The measure for the incident's group around the incident, per interval, with the threshold:
    a figure for dashboards.charts (None when the rule's source is not the rollups, or the rollups
    cannot answer that range)."""
    from alerts.sources import score_name
    from dashboards import charts

    rule = incident.rule
    if rule.source != "rollups":
        return None
    start, end = incident_span(incident, now)
    lead = max(6 * timedelta(seconds=rule.window_seconds), timedelta(hours=1))
    start, end = start - lead, min(now, end + lead)
    filters = incident_filters(incident)
    coarse = choose_cube(set(filters) | {"kind"}) == "all" or now - start > timedelta(hours=47)
    step = next((s for s in CHART_STEPS if (end - start) / s <= 120 and (not coarse or s >= timedelta(hours=1))),
                CHART_STEPS[-1])
    try:
        points = series(Query(project_id=rule.project_id, start=start, end=end, filters=filters, interval=step,
                              score=score_name(rule)), rule.measure)
    except (MetricsError, OverflowError):
        return None
    lines = [{"name": rule.measure, "points": points[0]["points"] if points else []}]
    if incident.threshold is not None:
        lines.append({"name": "threshold", "points": [{"t": start, "value": incident.threshold},
                                                      {"t": end, "value": incident.threshold}]})
    figure = charts.time_series(f"{rule.measure} for {incident.group_label}, per {int(step.total_seconds() // 60)} min",
                                lines, unit=unit_of(rule.measure))
    figure["data"][0]["mode"] = "lines+markers"  # an incident's few busy buckets are points, not a line
    return figure


PREVIEW_LINES = 8


def rule_preview_chart(rule: Rule, now: datetime, days: int = 7) -> dict[str, Any] | None:
    """The rule's measure over the last days, hourly, per group (the first PREVIEW_LINES groups),
    with a threshold rule's levels drawn: the rule editor's preview (the rule need not be saved)."""
    from alerts.sources import score_name
    from dashboards import charts

    if rule.source != "rollups":
        return None
    end = now.replace(minute=0, second=0, microsecond=0) + timedelta(hours=1)
    start = end - timedelta(days=days)
    try:
        lines = series(Query(project_id=rule.project_id, start=start, end=end, filters=rule.filters,
                             group_by=tuple(rule.group_by), interval=timedelta(hours=1), score=score_name(rule)),
                       rule.measure)
    except (MetricsError, OverflowError):
        return None
    named = [{"name": ", ".join(f"{k}={v or '(none)'}" for k, v in line["group"].items()) or rule.measure,
              "points": line["points"]} for line in lines[:PREVIEW_LINES]]
    if rule.condition == "threshold":
        for level in ("critical", "warning"):
            value = rule.condition_config.get(level)
            if isinstance(value, (int, float)):
                named.append({"name": f"{level} level", "points": [{"t": start, "value": value},
                                                                   {"t": end, "value": value}]})
    figure = charts.time_series(f"{rule.measure} per hour, last {days} days", named, unit=unit_of(rule.measure))
    for trace in figure["data"][:min(len(lines), PREVIEW_LINES)]:
        trace["mode"] = "lines+markers"  # sparse groups are lone points
    return figure


def budgets_status(*, project_id: int, now: datetime) -> list[dict[str, Any]]:
    """Every enabled budget rule of the project with what each group spent so far this period,
    read now (not the last evaluation): for apps that enforce a hard limit."""
    from alerts.conditions import Budget, condition_for
    from alerts.registry import METRIC_SOURCES, Window

    out = []
    for rule in Rule.objects.filter(project_id=project_id, condition="budget", enabled=True).order_by("name", "id"):
        condition = condition_for(rule.condition, rule.condition_config)
        assert isinstance(condition, Budget)
        start, end = condition.period_bounds(now)
        reading = METRIC_SOURCES[rule.source].read(rule, Window(start, now))
        groups = [{"group": dict(zip(rule.group_by, key, strict=False)), "spent": value.value or 0.0,
                   "share": (value.value or 0.0) / condition.amount,
                   "over": (value.value or 0.0) >= condition.amount}
                  for key, value in sorted(reading.groups.items())]
        out.append({"rule": rule.id, "name": rule.name, "measure": rule.measure, "period": condition.period,
                    "period_start": start, "period_end": end, "amount": condition.amount,
                    "over": any(g["over"] for g in groups), "groups": groups})
    return out


def slo_status(*, rule: Rule, now: datetime) -> list[dict[str, Any]]:
    """A burn-rate rule's SLO per group, read now: the bad ratio and burn rate of each tier's
    windows and of the last 30 days, and the error budget left (1 − the 30-day burn rate, at
    least 0). Empty for other conditions. One read_many of the rule's windows (alerts/sources.py)."""
    from alerts.conditions import BurnRate, condition_for
    from alerts.registry import METRIC_SOURCES, Window

    if rule.condition != "burn_rate":
        return []
    condition = condition_for(rule.condition, rule.condition_config)
    assert isinstance(condition, BurnRate)
    source = METRIC_SOURCES[rule.source]
    windows = condition.baselines(Window(now - timedelta(seconds=rule.window_seconds), now))
    if hasattr(source, "read_many"):
        readings = source.read_many([(rule, w) for w in windows])
    else:
        readings = [source.read(rule, w) for w in windows]
    for reading in readings:
        if isinstance(reading, Exception):
            raise reading
    allowed = 1 - condition.objective
    out = []
    for key in sorted({k for reading in readings for k in reading.groups}):
        values = [reading.groups.get(key) for reading in readings]
        ratios = [None if v is None or v.value is None or v.count < max(rule.min_count, 1) else v.value
                  for v in values]
        period = ratios[-1]
        tiers = [{"factor": factor, "severity": severity, "long_seconds": long_s, "short_seconds": short_s,
                  "long_burn": None if ratios[2 * i] is None else ratios[2 * i] / allowed,
                  "short_burn": None if ratios[2 * i + 1] is None else ratios[2 * i + 1] / allowed}
                 for i, (factor, long_s, short_s, severity) in enumerate(condition.tiers)]
        out.append({"group": dict(zip(rule.group_by, key, strict=False)), "objective": condition.objective,
                    "bad_ratio_30d": period, "calls_30d": values[-1].count if values[-1] is not None else 0,
                    "budget_left": None if period is None else max(0.0, 1 - period / allowed), "tiers": tiers})
    return out
