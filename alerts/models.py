"""Alert rules, their per-group instances and state changes, incidents, channels, routes,
silences, and the notification outbox with its delivery log (docs/alerts.md).

Behaviour that belongs to one row lives on the model (`Channel.secrets()`, `Silence.matches()`);
evaluation and delivery live in `alerts/evaluation.py` and `alerts/delivery.py`.
"""
from __future__ import annotations

import json
import uuid
from typing import Any

from django.conf import settings
from django.contrib.postgres.fields import ArrayField
from django.db import models
from django.db.models import Q

from tenancy.models import Project


class Severity(models.TextChoices):
    WARNING = "warning", "Warning"
    CRITICAL = "critical", "Critical"


class NoDataPolicy(models.TextChoices):
    OK = "ok", "Treat as OK"
    ALERT = "alert", "Alert"
    KEEP = "keep", "Keep the last state"


class State(models.TextChoices):
    OK = "ok", "OK"
    PENDING = "pending", "Pending"
    FIRING = "firing", "Firing"
    RESOLVED = "resolved", "Resolved"
    NO_DATA = "no_data", "No data"
    ERROR = "error", "Error"


def default_actions() -> list[str]:
    return ["notify"]


class Rule(models.Model):
    """A condition on one metric, over a window, per group value. Timing fields are seconds."""

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="alert_rules")
    name = models.CharField(max_length=200)
    # The metric source (alerts.registry.METRIC_SOURCES); "rollups" answers every measure of the
    # metrics API through rollups.selectors.
    source = models.CharField(max_length=40, default="rollups")
    measure = models.CharField(max_length=40)
    score = models.CharField(max_length=120, blank=True, default="")  # score_* measures
    flag = models.CharField(max_length=115, blank=True, default="")  # flag_* measures
    filters = models.JSONField(default=dict, blank=True)  # {dimension: [values]} over the rollup dimensions
    group_by = ArrayField(models.CharField(max_length=32), size=2, default=list, blank=True)
    condition = models.CharField(max_length=32, default="threshold")  # alerts.conditions.CONDITIONS
    condition_config = models.JSONField(default=dict)
    window_seconds = models.PositiveIntegerField(default=300)
    min_count = models.PositiveIntegerField(default=1)
    pending_seconds = models.PositiveIntegerField(default=0)
    recovery_hysteresis = models.FloatField(default=0)  # in the measure's unit, past the level
    no_data_policy = models.CharField(max_length=8, choices=NoDataPolicy.choices, default=NoDataPolicy.OK)
    renotify_seconds = models.PositiveIntegerField(default=0)  # 0: tell once per incident
    severity = models.CharField(max_length=8, choices=Severity.choices, default=Severity.CRITICAL)
    # What firing does (alerts.registry.ACTIONS): "notify" sends to the routed channels.
    actions = ArrayField(models.CharField(max_length=40), default=default_actions, blank=True)
    enabled = models.BooleanField(default=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                   related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    # The evaluation claim (alerts/evaluation.py): a rule is due when this has passed; a claim
    # moves it forward with a conditional UPDATE, so one tick evaluates a rule once.
    next_evaluation_at = models.DateTimeField(null=True, blank=True)
    last_evaluated_at = models.DateTimeField(null=True, blank=True)
    last_error = models.TextField(blank=True, default="")

    class Meta:
        indexes = [
            # The evaluation claim: enabled rules WHERE next_evaluation_at <= now ORDER BY it.
            models.Index(fields=["next_evaluation_at"], condition=Q(enabled=True), name="alerts_rule_due"),
            # The alerts page and the API list: a project's rules by name.
            models.Index(fields=["project", "name"], name="alerts_rule_project_name"),
        ]

    def __str__(self) -> str:
        return self.name


class RuleInstance(models.Model):
    """One group value of a rule (rule × model, rule × feature...) with its own state."""

    rule = models.ForeignKey(Rule, on_delete=models.CASCADE, related_name="instances")
    group_key = models.CharField(max_length=600, default="")  # canonical JSON of the group values; "" ungrouped
    group = models.JSONField(default=dict, blank=True)  # {dimension: value}
    state = models.CharField(max_length=8, choices=State.choices, default=State.OK)
    severity = models.CharField(max_length=8, choices=Severity.choices, blank=True, default="")
    since = models.DateTimeField()
    last_value = models.FloatField(null=True, blank=True)
    last_evaluated_at = models.DateTimeField(null=True, blank=True)
    last_notified_at = models.DateTimeField(null=True, blank=True)
    incident = models.ForeignKey("Incident", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")

    class Meta:
        constraints = [
            # One instance per group value; the evaluation looks instances up by (rule, group_key).
            models.UniqueConstraint(fields=["rule", "group_key"], name="alerts_instance_rule_group_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.rule} {self.group_label}"

    @property
    def group_label(self) -> str:
        return ", ".join(f"{k}={v or '(none)'}" for k, v in self.group.items()) or "all"

    @staticmethod
    def key_of(group: dict[str, str]) -> str:
        return json.dumps(list(group.values()), ensure_ascii=False) if group else ""


class StateEvent(models.Model):
    """Every state change of an instance, muted ones included."""

    rule = models.ForeignKey(Rule, on_delete=models.CASCADE, related_name="events")
    instance = models.ForeignKey(RuleInstance, on_delete=models.CASCADE, related_name="events")
    incident = models.ForeignKey("Incident", null=True, blank=True, on_delete=models.SET_NULL, related_name="events")
    at = models.DateTimeField()
    from_state = models.CharField(max_length=8, choices=State.choices)
    to_state = models.CharField(max_length=8, choices=State.choices)
    severity = models.CharField(max_length=8, blank=True, default="")
    value = models.FloatField(null=True, blank=True)
    threshold = models.FloatField(null=True, blank=True)
    window_seconds = models.PositiveIntegerField()
    muted = models.BooleanField(default=False)
    note = models.CharField(max_length=300, blank=True, default="")

    class Meta:
        indexes = [
            # An instance's (or incident's) timeline, oldest first; and a rule's recent changes.
            models.Index(fields=["instance", "at"], name="alerts_event_instance_at"),
            models.Index(fields=["rule", "-at"], name="alerts_event_rule_at"),
        ]


class Incident(models.Model):
    """A firing episode of one instance: opened when it starts firing, resolved when it recovers."""

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="+")
    rule = models.ForeignKey(Rule, on_delete=models.CASCADE, related_name="incidents")
    instance = models.ForeignKey(RuleInstance, on_delete=models.CASCADE, related_name="incidents")
    group = models.JSONField(default=dict, blank=True)
    severity = models.CharField(max_length=8, choices=Severity.choices)
    opened_at = models.DateTimeField()
    resolved_at = models.DateTimeField(null=True, blank=True)
    value = models.FloatField(null=True, blank=True)  # at opening
    threshold = models.FloatField(null=True, blank=True)
    acknowledged_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                        related_name="+")
    acknowledged_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [
            # "Firing now" on the alerts page: a project's incidents WHERE resolved_at IS NULL.
            models.Index(fields=["project", "opened_at"], condition=Q(resolved_at__isnull=True),
                         name="alerts_incident_open"),
            # Recent incidents (page and API): a project's incidents ORDER BY opened_at DESC.
            models.Index(fields=["project", "-opened_at"], name="alerts_incident_recent"),
        ]

    @property
    def group_label(self) -> str:
        return ", ".join(f"{k}={v or '(none)'}" for k, v in self.group.items()) or "all"


class ChannelKind(models.TextChoices):
    EMAIL = "email", "Email"
    SLACK = "slack", "Slack"
    WEBHOOK = "webhook", "Signed webhook"
    PAGERDUTY = "pagerduty", "PagerDuty"
    APPRISE = "apprise", "Apprise (Discord, Teams, Telegram, ntfy…)"


class Channel(models.Model):
    """Where notifications go. `config` holds what may be shown (addresses, the URL's host);
    secrets (webhook URLs, routing keys, signing secrets) are a Fernet token (alerts/crypto.py)."""

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="alert_channels")
    kind = models.CharField(max_length=16, choices=ChannelKind.choices)
    name = models.CharField(max_length=200)
    config = models.JSONField(default=dict, blank=True)
    secret_token = models.TextField(blank=True, default="")
    disabled_reason = models.CharField(max_length=500, blank=True, default="")
    disabled_at = models.DateTimeField(null=True, blank=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                   related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        indexes = [
            # The alerts page and the API list: a project's channels by name.
            models.Index(fields=["project", "name"], name="alerts_channel_project_name"),
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def enabled(self) -> bool:
        return not self.disabled_reason

    def secrets(self) -> dict[str, Any]:
        from alerts.crypto import decrypt_json

        return decrypt_json(self.secret_token) if self.secret_token else {}

    def set_secrets(self, values: dict[str, Any]) -> None:
        from alerts.crypto import encrypt_json

        self.secret_token = encrypt_json(values)


class Route(models.Model):
    """A rule sends each severity to its own channels (warning → Slack; critical → PagerDuty)."""

    rule = models.ForeignKey(Rule, on_delete=models.CASCADE, related_name="routes")
    channel = models.ForeignKey(Channel, on_delete=models.CASCADE, related_name="routes")
    severities = ArrayField(models.CharField(max_length=8, choices=Severity.choices),
                            default=list)

    class Meta:
        constraints = [
            # One route per rule and channel; the evaluation reads a rule's routes by rule.
            models.UniqueConstraint(fields=["rule", "channel"], name="alerts_route_rule_channel_unique"),
        ]


class Silence(models.Model):
    """Mutes notifications (not the recording of state changes) until `ends_at`: one rule, one
    group value (of one rule or any), or with neither the whole project (a maintenance window)."""

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="+")
    rule = models.ForeignKey(Rule, null=True, blank=True, on_delete=models.CASCADE, related_name="silences")
    group = models.JSONField(default=dict, blank=True)  # {dimension: value}; {} any group
    starts_at = models.DateTimeField()
    ends_at = models.DateTimeField()
    reason = models.CharField(max_length=500, blank=True, default="")
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                   related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        indexes = [
            # The evaluation's active silences: a project's silences WHERE ends_at > now.
            models.Index(fields=["project", "ends_at"], name="alerts_silence_active"),
        ]

    def matches(self, rule_id: int, group: dict[str, str]) -> bool:
        if self.rule_id is not None and self.rule_id != rule_id:
            return False
        return all(group.get(dim) == value for dim, value in self.group.items())


class NotificationKind(models.TextChoices):
    TRIGGER = "trigger", "Trigger"
    RESOLVE = "resolve", "Resolve"
    TEST = "test", "Test"


class NotificationStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    SENT = "sent", "Sent"
    FAILED = "failed", "Failed"


class Notification(models.Model):
    """The outbox: written in the transaction that changes a state, delivered by alerts.tasks.deliver.
    `delivery_id` is the same across retries (the webhook-id, the idempotency key receivers see);
    `message` is a snapshot of what to say, so a retry sends what the first try sent."""

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="+")
    channel = models.ForeignKey(Channel, on_delete=models.CASCADE, related_name="notifications")
    incident = models.ForeignKey(Incident, null=True, blank=True, on_delete=models.CASCADE, related_name="notifications")
    event = models.ForeignKey(StateEvent, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    kind = models.CharField(max_length=8, choices=NotificationKind.choices)
    delivery_id = models.UUIDField(default=uuid.uuid4, unique=True)
    message = models.JSONField(default=dict)
    status = models.CharField(max_length=8, choices=NotificationStatus.choices, default=NotificationStatus.PENDING)
    attempts = models.PositiveIntegerField(default=0)
    next_attempt_at = models.DateTimeField()
    claimed_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    sent_at = models.DateTimeField(null=True, blank=True)
    last_error = models.CharField(max_length=500, blank=True, default="")

    class Meta:
        indexes = [
            # The delivery claim: WHERE status = 'pending' AND next_attempt_at <= now ORDER BY it.
            models.Index(fields=["next_attempt_at"], condition=Q(status="pending"), name="alerts_notification_due"),
            # An incident's deliveries on its page.
            models.Index(fields=["incident", "created_at"], name="alerts_notification_incident"),
        ]


class DeliveryAttempt(models.Model):
    """One try at sending one notification: what the receiver answered, or why it failed."""

    notification = models.ForeignKey(Notification, on_delete=models.CASCADE, related_name="attempts_log")
    channel = models.ForeignKey(Channel, on_delete=models.CASCADE, related_name="attempts")
    at = models.DateTimeField()
    ok = models.BooleanField()
    response_code = models.PositiveSmallIntegerField(null=True, blank=True)
    error = models.CharField(max_length=500, blank=True, default="")
    duration_ms = models.PositiveIntegerField(default=0)

    class Meta:
        indexes = [
            # A notification's attempts (incident page); a channel's delivery log, newest first.
            models.Index(fields=["notification", "at"], name="alerts_attempt_notification"),
            models.Index(fields=["channel", "-at"], name="alerts_attempt_channel"),
        ]
