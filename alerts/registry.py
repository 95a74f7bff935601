"""The two seams other apps plug into (STYLE.md point 14): metric sources (what a rule can watch)
and actions (what firing does besides the default notify). Apps register in AppConfig.ready();
alerts/ never imports them.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from alerts.models import Incident, Rule, RuleInstance, StateEvent


@dataclass(frozen=True)
class Window:
    start: datetime
    end: datetime


@dataclass
class GroupValue:
    """A group's value over a window and how many observations it rests on (for min_count)."""

    value: float | None
    count: int


@dataclass
class Reading:
    """A window's values for every group: {group key tuple: GroupValue}."""

    groups: dict[tuple[str, ...], GroupValue] = field(default_factory=dict)


class MetricSource(Protocol):
    name: str

    def validate(self, rule: Rule) -> None:
        """Raise alerts.registry.RuleInvalid(field, message) when the source cannot answer the rule."""

    def read(self, rule: Rule, window: Window) -> Reading:
        """Every group's value over [window.start, window.end)."""


class RuleInvalid(ValueError):
    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


@dataclass
class Transition:
    """What an action is told: a change worth telling someone about (kind "trigger" when an
    incident opens or is re-notified or escalates, "resolve" when it ends). `muted` when a silence
    covers it: notify sends nothing then; other actions decide for themselves."""

    rule: Rule
    instance: RuleInstance
    incident: Incident | None
    event: StateEvent
    kind: str
    muted: bool


# An action runs in the transaction that records the change (keep it to writes of its own app's
# rows, or enqueue work with transaction.on_commit). A rule lists the actions it runs (Rule.actions).
Action = Callable[[Transition], Any]

METRIC_SOURCES: dict[str, MetricSource] = {}
ACTIONS: dict[str, Action] = {}


def register_metric_source(source: MetricSource) -> None:
    METRIC_SOURCES[source.name] = source


def register_action(name: str, action: Action) -> None:
    ACTIONS[name] = action


# App events (STYLE.md point 14: channels are also how other apps send their own events, such as a
# prompt label moving). The publishing app chooses the channels (it keeps its own subscriptions);
# alerts queues one outbox row per enabled channel of a kind that can carry a free-form event, in
# the caller's transaction, and delivers them like any notification (same retries, same
# signature, same delivery log). Notification.kind is "event"; the message's `type` names it.
EVENT_CHANNEL_KINDS = ("webhook", "slack")


@dataclass(frozen=True)
class AppEvent:
    project_id: int
    type: str  # dotted, owned by the publishing app: "prompt.label_moved"
    summary: str  # one line for people (Slack's text); escaped by each transport
    data: dict[str, Any] = field(default_factory=dict)
    url: str = ""  # where to look (absolute), optional


def publish_event(event: AppEvent, channel_ids: list[int]) -> int:
    """Queue `event` for the project's enabled webhook and Slack channels among `channel_ids`;
    delivery is enqueued on commit. Returns how many notifications were queued."""
    from django.db import transaction
    from django.utils import timezone

    from alerts.delivery import _enqueue_delivery
    from alerts.models import Channel, Notification

    channels = list(Channel.objects.filter(project_id=event.project_id, id__in=channel_ids, disabled_reason="",
                                           kind__in=EVENT_CHANNEL_KINDS))
    message = {"type": event.type, "summary": event.summary, "data": event.data,
               "project": {"id": event.project_id}, "incident": {"id": None, "url": event.url}}
    now = timezone.now()
    Notification.objects.bulk_create([Notification(project_id=event.project_id, channel=channel, kind="event",
                                                   message=message, next_attempt_at=now) for channel in channels])
    if channels:
        transaction.on_commit(_enqueue_delivery)
    return len(channels)
