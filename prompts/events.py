"""Change events sent out through the alerts app's channels: every LabelEvent (a new version, a label
moved or removed, a rollback, an experiment started, shipped or stopped) goes to the webhook and
Slack channels the project subscribed (EventSubscription), in the transaction that records it.

Through alerts.registry.publish_event, the seam alerts offers other apps: alerts never imports
prompts, and prompts works without alerts (nothing is sent then)."""
from __future__ import annotations

from typing import Any

from django.apps import apps
from django.conf import settings
from django.db import transaction
from django.urls import reverse

from prompts.models import EventKind, EventSubscription, LabelEvent

EVENT_TYPES = {kind: f"prompt.{kind}" for kind in EventKind.values}


def _summary(event: LabelEvent, name: str) -> str:
    who = event.actor_label
    if event.kind == EventKind.VERSION_CREATED:
        text = f"{name}: version {event.to_version} created by {who}"
    elif event.kind in (EventKind.LABEL_MOVED, EventKind.ROLLBACK):
        verb = "rolled back" if event.kind == EventKind.ROLLBACK else "moved"
        text = f"{name}: '{event.label}' {verb} from v{event.from_version or '-'} to v{event.to_version} by {who}"
    elif event.kind == EventKind.LABEL_REMOVED:
        text = f"{name}: '{event.label}' removed (was v{event.from_version}) by {who}"
    else:
        text = f"{name}: {EventKind(event.kind).label.lower()} on '{event.label}' by {who}"
    return f"{text}{f' ({event.reason})' if event.reason else ''}"[:500]


def message(event: LabelEvent) -> dict[str, Any]:
    prompt = event.prompt
    return {"prompt": {"id": prompt.pk, "name": prompt.name}, "kind": event.kind, "label": event.label,
            "from_version": event.from_version, "to_version": event.to_version, "actor": event.actor_label,
            "reason": event.reason, "details": event.details, "at": event.at.isoformat(), "event_id": event.pk}


def publish(event: LabelEvent) -> int:
    """Queue `event` for the subscribed channels; how many notifications were queued."""
    if not apps.is_installed("alerts"):
        return 0
    from alerts.registry import AppEvent, publish_event

    prompt = event.prompt
    channels = [s.channel_id for s in EventSubscription.objects.filter(project_id=prompt.project_id)
                if not s.kinds or event.kind in s.kinds]
    if not channels:
        return 0
    url = settings.SITE_URL + reverse("prompts-detail", args=[prompt.project_id, prompt.pk])
    return publish_event(AppEvent(project_id=prompt.project_id, type=EVENT_TYPES[event.kind],
                                  summary=_summary(event, prompt.name), data=message(event), url=url), channels)


def subscriptions_set(*, project_id: int, channel_ids: list[int], kinds: list[str], actor_label: str) -> list[int]:
    """Replace the project's subscriptions: these channels (webhook or Slack channels of the
    project, else refused by the caller), for these kinds ([] every kind)."""
    with transaction.atomic():
        EventSubscription.objects.filter(project_id=project_id).exclude(channel_id__in=channel_ids).delete()
        for channel_id in channel_ids:
            EventSubscription.objects.update_or_create(project_id=project_id, channel_id=channel_id,
                                                       defaults={"kinds": kinds, "created_by": actor_label[:255]})
    return channel_ids


def subscribable_channels(project_id: int) -> list[dict[str, Any]]:
    """The project's alerts channels that can carry events: [{id, name, kind, subscribed, kinds}]."""
    if not apps.is_installed("alerts"):
        return []
    from alerts.registry import EVENT_CHANNEL_KINDS

    channel_model = apps.get_model("alerts", "Channel")
    subscribed = {s.channel_id: s.kinds for s in EventSubscription.objects.filter(project_id=project_id)}
    return [{"id": c.pk, "name": c.name, "kind": c.kind, "subscribed": c.pk in subscribed,
             "kinds": subscribed.get(c.pk, [])}
            for c in channel_model.objects.filter(project_id=project_id, kind__in=EVENT_CHANNEL_KINDS).order_by("name")]
