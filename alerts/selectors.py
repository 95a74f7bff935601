"""Reads for the alerts page, the incident page and the API."""
from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

from django.db.models import Count, Prefetch, Q, QuerySet

from alerts.models import Channel, DeliveryAttempt, Incident, Notification, Rule, RuleInstance, Silence, StateEvent

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
